package csvsplit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
)

// Block is a piece of the input that holds whole records.
type Block struct {
	Seq       int    // its place in the input, from 0
	Data      []byte // valid until decode returns
	FirstLine int    // the file line of Data's first byte
}

// Decode reads the blocks after sp's header, runs decode on each on
// workers goroutines, and calls collect with the results in input order,
// on the calling goroutine. Block buffers and results go round in circles
// instead of becoming garbage: decode gets a result that held an earlier
// block's (it resets what it reuses), and collect must not keep it.
//
// It returns the read error (a *LineTooLongError with its Line set) after
// collecting every block before it, or ctx's error; once ctx is done the
// workers skip the blocks left and Decode returns soon.
func Decode[R any](ctx context.Context, sp *Splitter, firstLine, workers int, decode func(b Block, res *R), collect func(res *R)) error {
	type result struct {
		seq int
		r   *R
	}
	jobs := make(chan Block, workers)
	results := make(chan result, workers)
	// At most inFlight blocks are read and not yet collected, however the
	// workers are scheduled: their buffers and results are most of what
	// Decode holds in memory.
	inFlight := 2*workers + 2
	tokens := make(chan struct{}, inFlight)
	free := make(chan []byte, inFlight)
	freeResults := make(chan *R, inFlight)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range jobs {
				if ctx.Err() != nil {
					continue // drain: the reader stops soon
				}
				var res *R
				select {
				case res = <-freeResults:
				default:
					res = new(R)
				}
				decode(b, res)
				results <- result{b.Seq, res}
				select {
				case free <- b.Data[:0]:
				default:
				}
			}
		})
	}
	var readErr error // written before jobs closes, read after results closes
	go func() {
		defer close(jobs)
		readErr = readBlocks(ctx, sp, firstLine, tokens, free, jobs)
	}()
	go func() { wg.Wait(); close(results) }()

	pending := map[int]*R{} // finished out of order, waiting for their turn
	next := 0
	for res := range results {
		pending[res.seq] = res.r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if ctx.Err() == nil {
				collect(r)
			}
			<-tokens
			select {
			case freeResults <- r:
			default:
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err // blocks were skipped: the rows are incomplete
	}
	return readErr
}

// readBlocks sends the input's blocks to jobs in order, numbered, with the
// file line each starts on, reusing buffers from free, once it has a token
// for each. It stops at the end of the input, on a read error, or when ctx
// is done.
func readBlocks(ctx context.Context, sp *Splitter, line int, tokens chan<- struct{}, free <-chan []byte, jobs chan<- Block) error {
	for seq := 0; ; seq++ {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		data, err := sp.Next(buf)
		if len(data) > 0 {
			select {
			case jobs <- Block{Seq: seq, Data: data, FirstLine: line}:
			case <-ctx.Done():
				return ctx.Err()
			}
			line += bytes.Count(data, []byte{'\n'})
		}
		if err == io.EOF {
			return nil
		}
		var long *LineTooLongError
		if errors.As(err, &long) {
			long.Line = line // the buffer, and so the long record, starts here
		}
		if err != nil {
			return err
		}
	}
}
