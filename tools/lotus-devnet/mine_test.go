package devnet

// Mining paced by the clock: at each epoch boundary (genesis + k × block delay) the miner is asked
// for the block of epoch k, with null rounds filling any epochs it missed, so the head stays at
// the height the clock expects. The kit's BlockMiner mines one epoch per tick instead, so a slow
// start or a lost round would leave the chain behind for good.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecoin-project/go-state-types/abi"

	"github.com/filecoin-project/lotus/itests/kit"
	lminer "github.com/filecoin-project/lotus/miner"
)

type clockMiner struct {
	full       *kit.TestFullNode
	miner      *kit.TestMiner
	genesis    time.Time
	blockDelay time.Duration
	pace       time.Duration

	halted  atomic.Bool
	current chan struct{}
	once    sync.Once
}

func newMiner(full *kit.TestFullNode, miner *kit.TestMiner, genesisUnix uint64, blockDelay, pace time.Duration) *clockMiner {
	return &clockMiner{
		full: full, miner: miner,
		genesis:    time.Unix(int64(genesisUnix), 0),
		blockDelay: blockDelay, pace: pace,
		current: make(chan struct{}),
	}
}

// expected is the epoch the clock expects now.
func (c *clockMiner) expected(now time.Time) abi.ChainEpoch {
	if now.Before(c.genesis) {
		return 0
	}
	return abi.ChainEpoch(now.Sub(c.genesis) / c.blockDelay)
}

func (c *clockMiner) waitCurrent(ctx context.Context) error {
	select {
	case <-c.current:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *clockMiner) run(ctx context.Context) {
	var (
		base  abi.ChainEpoch = -1 // the head the miner last mined on
		nulls abi.ChainEpoch      // null rounds the miner already holds for that head
	)
	for {
		// Sleep to the next pace boundary after genesis, plus a margin so the block's timestamp
		// is never ahead of the clock.
		now := time.Now()
		since := now.Sub(c.genesis)
		next := c.genesis.Add((since/c.pace+1)*c.pace + 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		if c.halted.Load() {
			continue
		}
		head, err := c.full.ChainHead(ctx)
		if err != nil {
			continue
		}
		if head.Height() != base {
			base, nulls = head.Height(), 0
		}
		target := c.expected(time.Now())
		inject := target - (base + nulls + 1)
		if inject < 0 {
			if base >= target {
				c.once.Do(func() { close(c.current) })
			}
			continue
		}
		type result struct {
			win   bool
			epoch abi.ChainEpoch
		}
		done := make(chan result, 1)
		err = c.miner.MineOne(ctx, lminer.MineReq{
			InjectNulls: inject,
			Done: func(win bool, epoch abi.ChainEpoch, _ error) {
				select {
				case done <- result{win, epoch}:
				default:
				}
			},
		})
		if err != nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case r := <-done:
			if r.win {
				base, nulls = r.epoch, 0
				if r.epoch >= c.expected(time.Now()) {
					c.once.Do(func() { close(c.current) })
				}
			} else {
				// The miner counts the lost round as a null round on the same head.
				nulls += inject + 1
			}
		case <-time.After(2 * c.blockDelay):
			// The miner moved to another head meanwhile; the next tick reads it.
			base = -1
		}
	}
}
