module homelab.invalid/pihole-standin

go 1.19
