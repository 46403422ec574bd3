package devnet

// The JSON-RPC endpoint as `lotus daemon` serves it (node.FullNodeHandler with permissions, so
// Lotus's own JWT auth sits in front), tokens made by the node, and the files a Lotus repo holds.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/filecoin-project/go-jsonrpc"

	lapi "github.com/filecoin-project/lotus/api"
	"github.com/filecoin-project/lotus/itests/kit"
	"github.com/filecoin-project/lotus/node"
)

// tokenSet holds one token per permission level, each made by the node (Filecoin.AuthNew) with
// the permissions `lotus auth create-token --perm <level>` gives: that level and those below it.
type tokenSet struct {
	Read  string `json:"read"`
	Write string `json:"write"`
	Sign  string `json:"sign"`
	Admin string `json:"admin"`
}

func makeTokens(ctx context.Context, t *testing.T, full *kit.TestFullNode) tokenSet {
	mk := func(level int) string {
		tok, err := full.AuthNew(ctx, lapi.AllPermissions[:level+1])
		require.NoError(t, err)
		return string(tok)
	}
	return tokenSet{Read: mk(0), Write: mk(1), Sign: mk(2), Admin: mk(3)}
}

type walletInfo struct {
	Address        string `json:"address"`
	BalanceAttoFIL string `json:"balance_attofil"`
}

// devnetInfo is DIR/devnet.json.
type devnetInfo struct {
	Pid               int        `json:"pid"`
	APIURL            string     `json:"api_url"`
	APIMultiaddr      string     `json:"api_multiaddr"`
	APIGeneration     int        `json:"api_generation"`
	NetworkName       string     `json:"network_name"`
	GenesisTimestamp  uint64     `json:"genesis_timestamp"`
	BlockDelaySeconds uint64     `json:"block_delay_seconds"`
	F3                bool       `json:"f3"`
	F3BootstrapEpoch  int64      `json:"f3_bootstrap_epoch"`
	Tokens            tokenSet   `json:"tokens"`
	Wallet            walletInfo `json:"wallet"`
	DefaultWallet     string     `json:"default_wallet"`
	Miner             string     `json:"miner"`
	Halted            bool       `json:"halted"`
}

type apiServer struct {
	dir     string
	handler http.Handler
	admin   string

	mu         sync.Mutex
	srv        *http.Server
	addr       *net.TCPAddr
	generation int
}

func newAPI(t *testing.T, full *kit.TestFullNode, dir string, tokens tokenSet) *apiServer {
	// The handler is made once: its /health/livez and /health/readyz state lives across restarts.
	h, err := node.FullNodeHandler(full.FullNode, full.V2, true, jsonrpc.WithServerErrors(lapi.RPCErrors))
	require.NoError(t, err)
	a := &apiServer{dir: dir, handler: h, admin: tokens.Admin}
	require.NoError(t, a.listen())
	return a
}

// listen serves on a new loopback port; the old server, if any, closes only after the new port is
// bound, so the new port always differs.
func (a *apiServer) listen() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	a.mu.Lock()
	old := a.srv
	a.srv, a.addr = srv, l.Addr().(*net.TCPAddr)
	a.generation++
	a.mu.Unlock()
	if old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = old.Shutdown(ctx)
		_ = old.Close()
	}
	return nil
}

// stop closes the API and, as a Lotus repo does when it closes (node/repo/fsrepo.go), removes
// the api file; a killed devnet leaves it behind, as a killed daemon does.
func (a *apiServer) stop() {
	a.mu.Lock()
	srv := a.srv
	a.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	_ = os.Remove(filepath.Join(a.dir, "api"))
}

// publish writes DIR/api (the multiaddr, as Lotus's repo does), DIR/token (an admin token, as the
// daemon writes at first start) and DIR/devnet.json, each by rename so a reader never sees half.
func (a *apiServer) publish(info devnetInfo) error {
	a.mu.Lock()
	info.APIMultiaddr = fmt.Sprintf("/ip4/%s/tcp/%d/http", a.addr.IP, a.addr.Port)
	info.APIURL = fmt.Sprintf("http://%s", a.addr)
	info.APIGeneration = a.generation
	a.mu.Unlock()
	if err := writeFile(filepath.Join(a.dir, "token"), []byte(a.admin), 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(a.dir, "api"), []byte(info.APIMultiaddr), 0o644); err != nil {
		return err
	}
	body, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(a.dir, "devnet.json"), body, 0o600)
}

func writeFile(path string, body []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, body, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
