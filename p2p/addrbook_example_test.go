package p2p

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func ExampleParseNetAddress() {
	for _, s := range []string{
		"1.2.3.4:26656",
		"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA@[2001:4860::1]:26656",
		"/ip4/1.2.3.4/udp/4001/quic-v1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
		"seed.example.com:26656",
	} {
		na, err := ParseNetAddress(s)
		if err != nil {
			fmt.Println("error:", errors.Is(err, ErrInvalidNetAddress), err)
			continue
		}
		fmt.Println(na.Multiaddr, na.Routable())
	}
	// Output:
	// /ip4/1.2.3.4/tcp/26656 true
	// /ip6/2001:4860::1/tcp/26656 true
	// /ip4/1.2.3.4/udp/4001/quic-v1 true
	// error: true invalid net address: "seed.example.com:26656": host "seed.example.com" is not an IP literal (names are not resolved)
}

func ExampleAddrBook() {
	dir, err := os.MkdirTemp("", "addrbook")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	book := NewAddrBook(filepath.Join(dir, "addrbook.json"))
	if err := book.Start(); err != nil {
		panic(err)
	}
	book.AddOurAddress(NewNetAddressString("1.2.3.4:26656"))

	src := NewNetAddressString("8.8.8.8:26656")
	fmt.Println(book.AddAddress(NewNetAddressString("9.9.9.9:26656"), src))
	fmt.Println(book.AddAddress(NewNetAddressString("1.2.3.4:26656"), src))
	fmt.Println(book.AddAddress(NewNetAddressString("192.168.1.5:26656"), src))

	// Dial what the book picks; on success mark it good (it moves to the old
	// table), on failure keep the attempt.
	addr := book.PickAddress(30)
	book.MarkAttempt(addr)
	book.MarkGood(addr)
	fmt.Println(addr, book.Size(), len(book.GetSelection()))
	book.Stop() // saves

	again := NewAddrBook(filepath.Join(dir, "addrbook.json"))
	if err := again.Start(); err != nil {
		panic(err)
	}
	defer again.Stop()
	fmt.Println(again.Size(), again.LoadErr())
	// Output:
	// <nil>
	// addrbook: our own address: 1.2.3.4:26656
	// addrbook: non-routable address: 192.168.1.5:26656
	// 9.9.9.9:26656 1 1
	// 1 <nil>
}
