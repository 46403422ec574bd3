package devnet

// The controls a test uses on a running devnet: files in DIR polled every 100 ms, and signals.

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// controls runs until ctx ends (SIGTERM/SIGINT) or DIR/stop exists.
func controls(ctx context.Context, t *testing.T, dir string, api *apiServer, mining *clockMiner, info devnetInfo) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	signalHalt := false

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.Log("lotus-devnet: signalled, shutting down")
			return
		case s := <-sigs:
			signalHalt = s == syscall.SIGUSR1
		case <-tick.C:
		}
		if exists(filepath.Join(dir, "stop")) {
			t.Log("lotus-devnet: stop file, shutting down")
			return
		}
		halt := signalHalt || exists(filepath.Join(dir, "halt"))
		if halt != mining.halted.Load() {
			mining.halted.Store(halt)
			info.Halted = halt
			if err := api.publish(info); err != nil {
				t.Logf("lotus-devnet: writing devnet.json: %s", err)
			}
		}
		restart := filepath.Join(dir, "restart-api")
		if exists(restart) {
			if err := api.listen(); err != nil {
				t.Logf("lotus-devnet: restarting the API: %s", err)
			} else if err := api.publish(info); err != nil {
				t.Logf("lotus-devnet: writing the api file: %s", err)
			}
			_ = os.Remove(restart)
		}
	}
}
