package devnet

// The binary's entry point: the harness's own flags, then the one test (TestDevnet) run with no
// timeout, so `lotus-devnet -dir DIR` needs no -test.* flag.

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/filecoin-project/lotus/api"
	"github.com/filecoin-project/lotus/build/buildconstants"
)

var (
	flagDir = flag.String("dir", "",
		"folder written like a Lotus repo (api, token) plus devnet.json; controls are read from it (required)")
	flagF3        = flag.Bool("f3", true, "run F3 (fast finality) with a manifest for this devnet")
	flagBlockTime = flag.Duration("block-time", time.Duration(buildconstants.BlockDelaySecs)*time.Second,
		"mining pace; never below the build's block delay, where the chain stays current by the clock (a longer pace leaves null rounds)")
	flagF3Bootstrap = flag.Int64("f3-bootstrap-epoch", 10, "the F3 manifest's bootstrap epoch")
	flagF3Finality  = flag.Int64("f3-ec-finality", 5, "the F3 manifest's EC finality (epochs)")
	flagLogLevel    = flag.String("log-level", "error", "Lotus's log level (go-log: debug, info, warn, error)")
	flagBalance     = flag.String("wallet-balance", "1234567890123456789012",
		"attoFIL given at genesis to the extra wallet written to devnet.json")
)

func TestMain(m *testing.M) {
	flag.Parse()
	// One test, no deadline: the devnet runs until it is told to stop.
	_ = flag.Set("test.run", "^TestDevnet$")
	_ = flag.Set("test.timeout", "0")
	if *flagDir == "" {
		fmt.Fprintln(os.Stderr, "lotus-devnet: -dir is required")
		os.Exit(2)
	}
	if *flagBlockTime < time.Duration(buildconstants.BlockDelaySecs)*time.Second {
		fmt.Fprintf(os.Stderr, "lotus-devnet: -block-time %s is below this build's block delay (%d s): the chain cannot stay current\n",
			*flagBlockTime, buildconstants.BlockDelaySecs)
		os.Exit(2)
	}
	// As `lotus daemon` does (cli/lotus/lotus.go); without it Filecoin.Version fails with
	// "unknown node type 0".
	api.RunningNodeType = api.NodeFull
	if lvl, err := logging.LevelFromString(*flagLogLevel); err == nil {
		logging.SetAllLoggers(lvl)
	}
	os.Exit(m.Run())
}
