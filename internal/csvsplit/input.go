package csvsplit

import (
	"context"
	"io"
	"os"
)

// Input returns what a reader of r reads: every Read checks ctx first; and
// r's size when it knows it (0 otherwise), to size what it reads into. A
// pipe or terminal is read from a goroutine, since a Read blocked on it
// cannot be interrupted: cancelling ctx fails the returned reader's Read at
// once, and stop ends that goroutine's wait (it ends with its pending Read)
// once reading is done.
func Input(ctx context.Context, r io.Reader) (in io.Reader, size int64, stop func(), err error) {
	stop = func() {}
	switch rr := r.(type) {
	case interface{ Size() int64 }:
		size = rr.Size()
	case *os.File:
		st, err := rr.Stat()
		if err != nil {
			return nil, 0, stop, err
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		} else {
			r, stop = readInBackground(ctx, rr)
		}
	}
	return ctxReader{ctx, r}, size, stop, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// readInBackground copies r through an io.Pipe from a goroutine, so that
// cancelling ctx fails the reader's Read at once even while the goroutine is
// blocked in r.Read. stop releases the pipe; the goroutine then ends with its
// current Read.
func readInBackground(ctx context.Context, r io.Reader) (pr *io.PipeReader, stop func()) {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	unhook := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	return pr, func() { unhook(); pr.Close() }
}
