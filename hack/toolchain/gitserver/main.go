// Command gitserver serves the git repositories under -root over smart HTTP on
// loopback, for the local Flux controllers (hack/gitops.sh): Flux's own
// gittestserver, with repositories created on the first push. It writes its URL
// to -url-file once listening and serves until it is stopped.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/fluxcd/pkg/gittestserver"
)

func main() {
	root := flag.String("root", "", "directory holding the bare repositories")
	urlFile := flag.String("url-file", "", "where to write the server's URL")
	flag.Parse()
	if *root == "" {
		log.Fatal("-root is required")
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		log.Fatal(err)
	}
	server := gittestserver.NewGitServer(*root).AutoCreate()
	if err := server.StartHTTP(); err != nil {
		log.Fatal(err)
	}
	defer server.StopHTTP()
	url := server.HTTPAddress()
	if *urlFile != "" {
		if err := os.WriteFile(*urlFile, []byte(url+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(url)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
