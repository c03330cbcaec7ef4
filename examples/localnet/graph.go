package main

import (
	"cmp"
	"slices"
)

// Link is one connection of the peer graph: From dialed To (the peer is
// outbound for From and inbound for To).
type Link struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// peerLinks returns the connections of the running network, seen from the
// dialing side, ordered by From then To.
func peerLinks(net *network) []Link {
	index := make(map[string]int, len(net.nodes))
	for i, n := range net.nodes {
		index[n.sw.Host().ID().String()] = i
	}
	var links []Link
	for i, n := range net.nodes {
		for _, p := range n.sw.Peers().List() {
			if j, ok := index[p.Key]; ok && p.IsOutbound() {
				links = append(links, Link{From: i, To: j})
			}
		}
	}
	slices.SortFunc(links, func(a, b Link) int { return cmp.Or(a.From-b.From, a.To-b.To) })
	return links
}
