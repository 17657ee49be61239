// Command vcsim is the homelab.photon lab's launcher for the govmomi vSphere simulator.
//
// Debian packages the govmomi library with its simulator but not the vcsim command, so the lab
// builds this small launcher offline (see build.sh). It starts an ESXi (-mode esx) or vCenter
// (-mode vpx) inventory, listens on a loopback address, prints one machine-readable ready line
//
//	VCSIM_URL=https://127.0.0.1:PORT/sdk
//
// and serves until SIGTERM or SIGINT, then removes the simulator's temporary datastore folders.
//
// Simulator behaviour the tests rely on, and the workarounds carried here:
//
//   - Every NFC upload is logged by the simulator as "nfc POST <path>: transferred N bytes"
//     (or an error message instead of the count). With -log FILE those lines go to FILE.
//   - pyvmomi 9 reads properties through PropertyCollector.Fetch; vcsim 0.24 panics on a Fetch
//     of an unset property (it indexes an empty result) and drops the connection. A real ESXi
//     answers with an empty value, so a panic while serving a Fetch request is answered here
//     with an empty FetchResponse.
//   - In ESX mode Datacenter.datastore lists a datastore id that does not exist. That cannot be
//     fixed server-side without patching the library: clients (the ova_import module) find
//     datastores through a ContainerView instead, which is also correct against a real host.
//   - Each HttpNfcLeaseProgress call is logged as "lease progress N%" (vcsim itself does not log
//     it), so tests can see that an importer reports progress to the ESXi/vCenter task views.
//   - vcsim accepts any non-empty user name and password while Service.Listen.User is unset.
//     With -username/-password set, Listen.User carries them and ONLY they log in.
//   - ReconfigVM_Task's extraConfig is a list of changes on a real host: a key that is already
//     there gets the new value, a key given with an empty value is removed (vSphere API,
//     VirtualMachineConfigSpec.extraConfig). vcsim 0.24 appends every entry, so a removal would
//     leave the key and add an empty duplicate. The launcher merges each VM's extraConfig the way
//     a host does (keys compared without regard to case, as in a .vmx file) after every
//     ReconfigVM_Task request and before every request, so reads never see the duplicates.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/simulator/esx" // ESX inventory (registered by simulator.ESX)
	"github.com/vmware/govmomi/vim25/types"
)

const emptyFetchResponse = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
	` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"` +
	` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
	` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
	`<soapenv:Body><FetchResponse xmlns="urn:vim25"></FetchResponse></soapenv:Body></soapenv:Envelope>`

// isFetch tells whether a SOAP request body calls the (undocumented) Fetch method.
func isFetch(body []byte) bool {
	return bytes.Contains(body, []byte("<Fetch ")) || bytes.Contains(body, []byte("<Fetch>")) ||
		bytes.Contains(body, []byte(":Fetch "))
}

var progressPercent = regexp.MustCompile(`<percent[^>]*>(\d+)</percent>`)

// logProgress logs the percentage of an HttpNfcLeaseProgress request.
func logProgress(body []byte) {
	if !bytes.Contains(body, []byte("HttpNfcLeaseProgress")) {
		return
	}
	if m := progressPercent.FindSubmatch(body); m != nil {
		log.Printf("lease progress %s%%", m[1])
	}
}

// fetchGuard answers a panic during a Fetch request with an empty FetchResponse, as a real
// host does for an unset property. Other panics are passed on to net/http unchanged.
func fetchGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method == http.MethodPost && r.Body != nil && r.URL.Path == "/sdk" {
			b, err := ioutil.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = b
			r.Body = ioutil.NopCloser(bytes.NewReader(b))
			logProgress(body)
		}
		defer func() {
			if v := recover(); v != nil {
				if body == nil || !isFetch(body) {
					panic(v)
				}
				log.Printf("vcsim launcher: Fetch panicked (%v); answered with an empty FetchResponse", v)
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(emptyFetchResponse))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// mergeExtraConfig applies a list of extraConfig entries in order, as a host applies the changes
// of a reconfiguration: the last value of a key wins (keys compared without regard to case), an
// empty value removes the key. Keys keep the place they first had.
func mergeExtraConfig(opts []types.BaseOptionValue) ([]types.BaseOptionValue, bool) {
	order := []string{}
	last := map[string]types.BaseOptionValue{}
	for _, o := range opts {
		k := strings.ToLower(o.GetOptionValue().Key)
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = o
	}
	out := make([]types.BaseOptionValue, 0, len(order))
	for _, k := range order {
		v := last[k].GetOptionValue().Value
		if s, isString := v.(string); v == nil || (isString && s == "") {
			continue
		}
		out = append(out, last[k])
	}
	return out, len(out) != len(opts)
}

// mergeAllExtraConfig merges the extraConfig of every VM of the inventory (see mergeExtraConfig).
func mergeAllExtraConfig() {
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		simulator.Map.WithLock(vm, func() {
			if vm.Config == nil {
				return
			}
			if merged, changed := mergeExtraConfig(vm.Config.ExtraConfig); changed {
				vm.Config.ExtraConfig = merged
			}
		})
	}
}

// extraConfigFix gives ReconfigVM_Task a host's extraConfig semantics (see mergeExtraConfig).
// The simulator runs the task within the request, so merging after the request is enough for
// the caller; merging before every request also covers a reader racing a reconfiguration.
func extraConfigFix(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sdk" {
			next.ServeHTTP(w, r)
			return
		}
		mergeAllExtraConfig()
		var reconfig bool
		if r.Method == http.MethodPost && r.Body != nil {
			b, err := ioutil.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			reconfig = bytes.Contains(b, []byte("ReconfigVM_Task"))
			r.Body = ioutil.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
		if reconfig {
			mergeAllExtraConfig()
		}
	})
}

func main() {
	mode := flag.String("mode", "esx", "inventory to simulate: esx (standalone ESXi) or vpx (vCenter)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	username := flag.String("username", "", "the only user name that may log in (with -password)")
	password := flag.String("password", "", "the only password that may log in (with -username)")
	logFile := flag.String("log", "", "append the simulator's log (NFC transfers included) to this file")
	flag.Parse()

	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vcsim: cannot open log file: %s\n", err)
			os.Exit(2)
		}
		defer f.Close()
		log.SetOutput(f)
	}

	var model *simulator.Model
	switch *mode {
	case "esx":
		model = simulator.ESX()
	case "vpx":
		model = simulator.VPX()
	default:
		fmt.Fprintf(os.Stderr, "vcsim: -mode must be esx or vpx, not %q\n", *mode)
		os.Exit(2)
	}
	if (*username == "") != (*password == "") {
		fmt.Fprintln(os.Stderr, "vcsim: give both -username and -password, or neither")
		os.Exit(2)
	}

	if err := model.Create(); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: cannot create the %s model: %s\n", *mode, err)
		os.Exit(1)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen}
	if *username != "" {
		model.Service.Listen.User = url.UserPassword(*username, *password)
	}
	model.Service.TLS = new(tls.Config)
	model.Service.RegisterEndpoints = true

	server := model.Service.NewServer()
	defer server.Close()
	server.Config.Handler = extraConfigFix(fetchGuard(server.Config.Handler))

	ready := *server.URL
	ready.User = nil
	fmt.Printf("VCSIM_URL=%s\n", ready.String())
	fmt.Printf("VCSIM_MODE=%s\n", *mode)
	log.Printf("vcsim launcher: %s mode serving %s", *mode, ready.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	log.Printf("vcsim launcher: %s received, stopping", s)
}
