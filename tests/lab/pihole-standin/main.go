// pihole-standin: a STAND-IN for the pihole/pihole v6 image, for the lab only.
//
// The real image cannot be pulled in the lab, so the pihole role's molecule scenario runs this
// instead. It is not Pi-hole: it blocks nothing and keeps no query log. It does what the role and
// its tests rely on, for real:
//   - DNS on 53/udp and 53/tcp: an A answer for pi.hole (the container's address) and for each
//     local record given in FTLCONF_dns_hosts ("IP NAME;IP NAME"), NODATA for other types of those
//     names, and any other question forwarded to FTLCONF_dns_upstreams ("IP[#PORT];...");
//     SERVFAIL when no upstream answers, REFUSED for what it cannot parse.
//   - HTTP on 80: /admin/ (a page that names itself a stand-in) and POST /api/auth, which checks
//     {"password": "..."} against the web password as Pi-hole v6's API does.
//   - The web password the way the v6 image takes it: FTLCONF_webserver_api_password, else the
//     Docker secret /run/secrets/$WEBPASSWORD_FILE. The password is never printed.
//   - "pihole-standin healthcheck": asks 127.0.0.1:53 for pi.hole, exit 0 on an A answer
//     (the real image's health check runs dig for the same question).
package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	typeA    = 1
	classIN  = 1
	rcodeOK  = 0
	rcodeFmt = 1
	rcodeSrv = 2
	rcodeRef = 5
)

type config struct {
	hosts     map[string]net.IP // lower-case name without trailing dot -> IPv4
	upstreams []string          // host:port
	password  string
	mode      string
}

type question struct {
	name   string // lower-case, no trailing dot
	qtype  uint16
	qclass uint16
	end    int // offset just after the question
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("pihole-standin: ")
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	cfg, err := loadConfig()
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); log.Fatal(serveUDP(cfg)) }()
	go func() { defer wg.Done(); log.Fatal(serveTCP(cfg)) }()
	go func() { defer wg.Done(); log.Fatal(serveHTTP(cfg)) }()
	log.Printf("STAND-IN for pihole/pihole v6 (lab only): DNS on :53 udp+tcp, web on :80; %d local records, upstreams %v, listening mode %q",
		len(cfg.hosts)-1, cfg.upstreams, cfg.mode)
	wg.Wait()
}

func loadConfig() (*config, error) {
	cfg := &config{hosts: map[string]net.IP{}, mode: os.Getenv("FTLCONF_dns_listeningMode")}
	cfg.hosts["pi.hole"] = ownAddress()
	for _, entry := range splitList(os.Getenv("FTLCONF_dns_hosts")) {
		fields := strings.Fields(entry)
		if len(fields) < 2 {
			return nil, fmt.Errorf("FTLCONF_dns_hosts: %q is not \"IP NAME\"", entry)
		}
		ip := net.ParseIP(fields[0]).To4()
		if ip == nil {
			return nil, fmt.Errorf("FTLCONF_dns_hosts: %q is not an IPv4 address (the stand-in serves A records only)", fields[0])
		}
		for _, name := range fields[1:] {
			cfg.hosts[normalize(name)] = ip
		}
	}
	for _, up := range splitList(os.Getenv("FTLCONF_dns_upstreams")) {
		host, port := up, "53"
		if i := strings.LastIndex(up, "#"); i >= 0 {
			host, port = up[:i], up[i+1:]
		}
		cfg.upstreams = append(cfg.upstreams, net.JoinHostPort(host, port))
	}
	if pw, ok := os.LookupEnv("FTLCONF_webserver_api_password"); ok {
		cfg.password = pw
		log.Print("web password from FTLCONF_webserver_api_password")
	} else if name := os.Getenv("WEBPASSWORD_FILE"); name != "" {
		data, err := os.ReadFile("/run/secrets/" + name)
		if err != nil {
			return nil, fmt.Errorf("WEBPASSWORD_FILE: %v", err)
		}
		cfg.password = strings.TrimRight(string(data), "\n")
		log.Printf("web password from the secret /run/secrets/%s", name)
	} else {
		buf := make([]byte, 8)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		cfg.password = hex.EncodeToString(buf)
		log.Print("no web password given: a random one was set (not shown)")
	}
	return cfg, nil
}

func splitList(value string) []string {
	var out []string
	for _, item := range strings.Split(value, ";") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func normalize(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func ownAddress() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

// parseQuestion reads the header and the first question of a DNS query.
func parseQuestion(msg []byte) (*question, error) {
	if len(msg) < 12 {
		return nil, errors.New("short message")
	}
	if msg[2]&0x80 != 0 {
		return nil, errors.New("not a query")
	}
	if binary.BigEndian.Uint16(msg[4:6]) != 1 {
		return nil, errors.New("not exactly one question")
	}
	var labels []string
	off := 12
	for {
		if off >= len(msg) {
			return nil, errors.New("truncated name")
		}
		l := int(msg[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(msg) {
			return nil, errors.New("bad label")
		}
		labels = append(labels, string(msg[off:off+l]))
		off += l
	}
	if off+4 > len(msg) {
		return nil, errors.New("truncated question")
	}
	return &question{
		name:   normalize(strings.Join(labels, ".")),
		qtype:  binary.BigEndian.Uint16(msg[off : off+2]),
		qclass: binary.BigEndian.Uint16(msg[off+2 : off+4]),
		end:    off + 4,
	}, nil
}

// reply builds an answer to query with the given rcode and an optional A record.
func reply(query []byte, q *question, rcode byte, ip net.IP) []byte {
	if q == nil {
		out := make([]byte, 12)
		if len(query) >= 2 {
			copy(out, query[:2])
		}
		out[2] = 0x80
		out[3] = 0x80 | rcode
		return out
	}
	out := make([]byte, q.end, q.end+16)
	copy(out, query[:q.end])
	out[2] = 0x84 | (query[2] & 0x01) // QR, AA, keep RD
	out[3] = 0x80 | rcode             // RA
	binary.BigEndian.PutUint16(out[6:8], 0)
	binary.BigEndian.PutUint16(out[8:10], 0)
	binary.BigEndian.PutUint16(out[10:12], 0)
	if ip != nil {
		binary.BigEndian.PutUint16(out[6:8], 1)
		out = append(out, 0xc0, 12) // pointer to the question's name
		out = binary.BigEndian.AppendUint16(out, typeA)
		out = binary.BigEndian.AppendUint16(out, classIN)
		out = binary.BigEndian.AppendUint32(out, 2)
		out = binary.BigEndian.AppendUint16(out, 4)
		out = append(out, ip.To4()...)
	}
	return out
}

func (cfg *config) answer(query []byte, tcp bool) []byte {
	q, err := parseQuestion(query)
	if err != nil {
		return reply(query, nil, rcodeFmt, nil)
	}
	if ip, ok := cfg.hosts[q.name]; ok {
		if q.qclass == classIN && q.qtype == typeA {
			return reply(query, q, rcodeOK, ip)
		}
		return reply(query, q, rcodeOK, nil) // NODATA
	}
	if len(cfg.upstreams) == 0 {
		return reply(query, q, rcodeRef, nil)
	}
	for _, up := range cfg.upstreams {
		if resp, err := forward(up, query, tcp); err == nil {
			return resp
		}
	}
	return reply(query, q, rcodeSrv, nil)
}

func forward(upstream string, query []byte, tcp bool) ([]byte, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	conn, err := net.DialTimeout(network, upstream, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if tcp {
		return exchangeTCP(conn, query)
	}
	if _, err := conn.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func exchangeTCP(conn net.Conn, query []byte) ([]byte, error) {
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(query)))
	if _, err := conn.Write(append(msg, query...)); err != nil {
		return nil, err
	}
	var size [2]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(size[:]))
	_, err := io.ReadFull(conn, resp)
	return resp, err
}

func serveUDP(cfg *config) error {
	conn, err := net.ListenPacket("udp", ":53")
	if err != nil {
		return err
	}
	buf := make([]byte, 65535)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		query := append([]byte(nil), buf[:n]...)
		go func() { conn.WriteTo(cfg.answer(query, false), addr) }()
	}
}

func serveTCP(cfg *config) error {
	ln, err := net.Listen("tcp", ":53")
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			for {
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				var size [2]byte
				if _, err := io.ReadFull(conn, size[:]); err != nil {
					return
				}
				query := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(conn, query); err != nil {
					return
				}
				resp := cfg.answer(query, true)
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := conn.Write(append(out, resp...)); err != nil {
					return
				}
			}
		}()
	}
}

const adminPage = `<!DOCTYPE html>
<html><head><title>Pi-hole stand-in - Admin</title></head>
<body><h1>Pi-hole admin (STAND-IN)</h1>
<p>This is homelab.photon's lab stand-in for the pihole/pihole v6 image, not Pi-hole.</p>
</body></html>
`

func serveHTTP(cfg *config) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, adminPage)
	})
	mux.HandleFunc("/api/auth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			io.WriteString(w, `{"error":{"key":"method_not_allowed"}}`)
			return
		}
		var body struct {
			Password string `json:"password"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"key":"bad_request"}}`)
			return
		}
		if subtle.ConstantTimeCompare([]byte(body.Password), []byte(cfg.password)) == 1 {
			io.WriteString(w, `{"session":{"valid":true,"message":"password correct"}}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"session":{"valid":false,"message":"password incorrect"}}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusFound)
	})
	return http.ListenAndServe(":80", mux)
}

func healthcheck() int {
	query := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range []string{"pi", "hole"} {
		query = append(query, byte(len(label)))
		query = append(query, label...)
	}
	query = append(query, 0, 0, typeA, 0, classIN)
	conn, err := net.DialTimeout("udp", "127.0.0.1:53", 2*time.Second)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(query); err != nil {
		fmt.Println(err)
		return 1
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil || n < 12 || buf[3]&0x0f != rcodeOK || binary.BigEndian.Uint16(buf[6:8]) == 0 {
		fmt.Println("no answer for pi.hole from 127.0.0.1:53")
		return 1
	}
	ip := buf[n-4 : n]
	fmt.Printf("pi.hole %d.%d.%d.%d\n", ip[0], ip[1], ip[2], ip[3])
	return 0
}
