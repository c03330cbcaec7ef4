package integration

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// upnpGateway is the smallest UPnP Internet Gateway Device (IGD v1) that
// go-libp2p's port mapping accepts: it answers SSDP searches for a gateway
// on one interface, serves its device description over HTTP, and answers
// the WANIPConnection:1 actions GetNATRSIPStatus, GetExternalIPAddress and
// AddPortMapping / DeletePortMapping, granting every mapping. It prints
// "MAP <tcp|udp> <internal port> <external port> <lease seconds>" for each
// mapping it grants and "UNMAP <tcp|udp> <external port>" for each it is
// asked to remove.
type upnpGateway struct {
	ssdp     *net.UDPConn
	http     *http.Server
	external string
	wg       sync.WaitGroup
}

const upnpWANIPConnection = "urn:schemas-upnp-org:service:WANIPConnection:1"

// upnpSearchTargets are the SSDP search targets the gateway answers.
var upnpSearchTargets = map[string]bool{
	"ssdp:all":        true,
	"upnp:rootdevice": true,
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1": true,
	"urn:schemas-upnp-org:device:WANConnectionDevice:1":   true,
}

// upnpDescription is the device description: an IGD with one WAN
// connection device offering WANIPConnection:1.
const upnpDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <specVersion><major>1</major><minor>0</minor></specVersion>
 <device>
  <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <friendlyName>switchyard test gateway</friendlyName>
  <UDN>uuid:5b1f0c9e-0000-4000-8000-000000000001</UDN>
  <deviceList><device>
   <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
   <UDN>uuid:5b1f0c9e-0000-4000-8000-000000000002</UDN>
   <deviceList><device>
    <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
    <UDN>uuid:5b1f0c9e-0000-4000-8000-000000000003</UDN>
    <serviceList><service>
     <serviceType>` + upnpWANIPConnection + `</serviceType>
     <serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
     <SCPDURL>/scpd.xml</SCPDURL>
     <controlURL>/control</controlURL>
     <eventSubURL>/events</eventSubURL>
    </service></serviceList>
   </device></deviceList>
  </device></deviceList>
 </device>
</root>
`

// startUPnPGateway starts the gateway on ip (an address of interface
// iface), reporting external as its public address.
func startUPnPGateway(ip, iface, external string) (*upnpGateway, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	ssdp, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900})
	if err != nil {
		return nil, fmt.Errorf("SSDP: %w", err)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		ssdp.Close()
		return nil, err
	}
	g := &upnpGateway{ssdp: ssdp, external: external}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rootDesc.xml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, upnpDescription)
	})
	mux.HandleFunc("POST /control", g.control)
	g.http = &http.Server{Handler: mux}
	location := fmt.Sprintf("http://%s/rootDesc.xml", ln.Addr())
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.http.Serve(ln)
	}()
	go func() {
		defer g.wg.Done()
		g.answerSearches(location)
	}()
	return g, nil
}

// answerSearches answers each SSDP M-SEARCH for a gateway, until close.
func (g *upnpGateway) answerSearches(location string) {
	buf := make([]byte, 2048)
	for {
		n, from, err := g.ssdp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n])))
		if err != nil || req.Method != "M-SEARCH" {
			continue
		}
		st := req.Header.Get("ST")
		if !upnpSearchTargets[st] {
			continue
		}
		resp := "HTTP/1.1 200 OK\r\n" +
			"CACHE-CONTROL: max-age=120\r\n" +
			"EXT:\r\n" +
			"LOCATION: " + location + "\r\n" +
			"SERVER: switchyard-test UPnP/1.0 gateway/1.0\r\n" +
			"ST: " + st + "\r\n" +
			"USN: uuid:5b1f0c9e-0000-4000-8000-000000000001::" + st + "\r\n\r\n"
		g.ssdp.WriteToUDP([]byte(resp), from)
	}
}

// upnpArgs are the arguments of the actions the gateway serves.
type upnpArgs struct {
	ExternalPort int    `xml:"NewExternalPort"`
	Protocol     string `xml:"NewProtocol"`
	InternalPort int    `xml:"NewInternalPort"`
	Lease        int    `xml:"NewLeaseDuration"`
}

// control answers one SOAP action.
func (g *upnpGateway) control(w http.ResponseWriter, r *http.Request) {
	_, action, _ := strings.Cut(strings.Trim(r.Header.Get("SOAPAction"), `"`), "#")
	var env struct {
		Body struct {
			Action []byte `xml:",innerxml"`
		} `xml:"Body"`
	}
	var args upnpArgs
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = xml.Unmarshal(body, &env)
	}
	if err == nil {
		err = xml.Unmarshal(env.Body.Action, &args)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("bad SOAP request: %s", err), http.StatusBadRequest)
		return
	}
	var out string
	switch action {
	case "GetNATRSIPStatus":
		out = "<NewRSIPAvailable>0</NewRSIPAvailable><NewNATEnabled>1</NewNATEnabled>"
	case "GetExternalIPAddress":
		out = "<NewExternalIPAddress>" + g.external + "</NewExternalIPAddress>"
	case "AddPortMapping":
		fmt.Printf("MAP %s %d %d %d\n", strings.ToLower(args.Protocol), args.InternalPort, args.ExternalPort, args.Lease)
	case "DeletePortMapping":
		fmt.Printf("UNMAP %s %d\n", strings.ToLower(args.Protocol), args.ExternalPort)
	default:
		http.Error(w, "unknown action "+action, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" `+
		`s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`+
		`<u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`, action, upnpWANIPConnection, out, action)
}

// close stops the gateway and waits for its goroutines.
func (g *upnpGateway) close() error {
	err := errors.Join(g.ssdp.Close(), g.http.Close())
	g.wg.Wait()
	return err
}
