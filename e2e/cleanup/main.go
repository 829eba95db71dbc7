// Command cleanup removes what killed end-to-end runs left behind: test host
// processes, their network namespaces and their per-run roots. Runs whose
// owner process still lives are left alone. e2e/run.sh calls it on exit.
//
//	go run ./e2e/cleanup [-cache]
//
// With -cache it also deletes the image cache, forcing the next run to
// rebuild the images with mmdebstrap.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

func main() {
	cache := flag.Bool("cache", false, "also remove the image cache")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("e2e cleanup: ")
	workDir := envOr("NSPAWNCTL_E2E_WORKDIR", testhost.DefaultWorkDir)
	if err := testhost.CleanupStale(workDir, log.Printf); err != nil {
		log.Fatalf("%v", err)
	}
	if *cache {
		dir := envOr("NSPAWNCTL_E2E_CACHE", testhost.DefaultCacheDir)
		if err := os.RemoveAll(dir); err != nil {
			log.Fatalf("remove image cache %s: %v", dir, err)
		}
		fmt.Printf("removed image cache %s\n", dir)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
