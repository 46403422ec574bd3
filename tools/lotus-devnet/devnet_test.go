package devnet

// The devnet: one full node and one miner from Lotus's itests/kit with mock proofs, genesis at
// start-up time, mined at the build's block delay so it stays current by the clock, F3 with a
// manifest for this devnet, served by serveAPI until a stop signal or DIR/stop.

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipfs/go-cid"
	"github.com/stretchr/testify/require"

	"github.com/filecoin-project/go-f3/gpbft"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/big"

	"github.com/filecoin-project/lotus/build/buildconstants"
	"github.com/filecoin-project/lotus/chain/lf3"
	"github.com/filecoin-project/lotus/chain/types"
	"github.com/filecoin-project/lotus/chain/wallet/key"
	"github.com/filecoin-project/lotus/itests/kit"
	"github.com/filecoin-project/lotus/node"
	"github.com/filecoin-project/lotus/node/modules"
)

// setGenesisOffset sets how far before start-up the kit dates genesis. The kit's default
// (10,000,000 s, "to trigger catch-up mining") would leave the chain days behind the clock, and
// the kit has no option for it, so the field of its exported defaults is set in place.
func setGenesisOffset(t *testing.T, d time.Duration) {
	f := reflect.ValueOf(&kit.DefaultEnsembleOpts).Elem().FieldByName("pastOffset")
	require.True(t, f.IsValid(), "itests/kit's ensembleOpts has no pastOffset field any more")
	require.Equal(t, reflect.TypeOf(time.Duration(0)), f.Type())
	*(*time.Duration)(unsafe.Pointer(f.UnsafeAddr())) = d
}

func TestDevnet(t *testing.T) {
	dir, err := filepath.Abs(*flagDir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	blockDelay := time.Duration(buildconstants.BlockDelaySecs) * time.Second
	setGenesisOffset(t, 0)

	// A wallet funded at genesis that nothing spends from: its balance stays exact.
	wallet, err := key.GenerateKey(types.KTSecp256k1)
	require.NoError(t, err)
	balance, err := big.FromString(*flagBalance)
	require.NoError(t, err)

	fullOpts := []kit.NodeOpt{kit.WithAllSubsystems()}
	minerOpts := []kit.NodeOpt{kit.WithAllSubsystems()}
	if *flagF3 {
		m := lf3.NewManifest(gpbft.NetworkName("testing"), abi.ChainEpoch(*flagF3Finality),
			abi.ChainEpoch(*flagF3Bootstrap), blockDelay, cid.Undef)
		// Shorter gpbft rounds than the mainnet defaults, so instances keep up with 4 s epochs.
		m.Gpbft.Delta = 250 * time.Millisecond
		m.Gpbft.RebroadcastBackoffBase = 500 * time.Millisecond
		m.Gpbft.RebroadcastBackoffMax = time.Second
		fullOpts = append(fullOpts, kit.F3Config(&lf3.Config{StaticManifest: m}))
		minerOpts = append(minerOpts, kit.ConstructorOpts(node.Override(node.F3Participation, modules.F3Participation)))
	} else {
		fullOpts = append(fullOpts, kit.F3Disabled())
	}

	var full kit.TestFullNode
	var miner kit.TestMiner
	kit.NewEnsemble(t, kit.MockProofs(), kit.Account(wallet, balance)).
		FullNode(&full, fullOpts...).
		Miner(&miner, &full, minerOpts...).
		Start()

	walletAddr, err := full.WalletImport(ctx, &wallet.KeyInfo)
	require.NoError(t, err)
	gen, err := full.ChainGetGenesis(ctx)
	require.NoError(t, err)
	name, err := full.StateNetworkName(ctx)
	require.NoError(t, err)

	tokens := makeTokens(ctx, t, &full)
	api := newAPI(t, &full, dir, tokens)
	t.Cleanup(api.stop)

	mining := newMiner(&full, &miner, gen.MinTimestamp(), blockDelay, *flagBlockTime)
	go mining.run(ctx)
	// devnet.json appears once the chain is current: a first block at the epoch the clock expects.
	require.NoError(t, mining.waitCurrent(ctx), "the devnet never became current")

	info := devnetInfo{
		Pid:               os.Getpid(),
		NetworkName:       string(name),
		GenesisTimestamp:  gen.MinTimestamp(),
		BlockDelaySeconds: buildconstants.BlockDelaySecs,
		F3:                *flagF3,
		F3BootstrapEpoch:  *flagF3Bootstrap,
		Tokens:            tokens,
		Wallet:            walletInfo{Address: walletAddr.String(), BalanceAttoFIL: balance.String()},
		DefaultWallet:     full.DefaultKey.Address.String(),
		Miner:             miner.ActorAddr.String(),
	}
	require.NoError(t, api.publish(info))

	controls(ctx, t, dir, api, mining, info)
}
