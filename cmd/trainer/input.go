package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// input is a CSV file named on the command line, opened once: a regular
// file, a named pipe or process substitution, or "-" for standard input.
// Opening it a second time would lose what a pipe already gave the first.
type input struct {
	name   string    // as given on the command line
	source string    // recorded as the data file: the absolute path, or "stdin"
	r      io.Reader // what validation reads
	file   *os.File  // r as a file, or nil
	size   int64     // bytes left to read, for a regular file; else 0
	offset int64     // where reading starts in file (stdin may be redirected mid-file)
	close  func() error
}

// openInput opens name, or takes stdin for "-", and finds its size when it
// is a regular file. Opening a named pipe blocks until a writer appears, so
// the open runs aside and a cancelled ctx (SIGINT, SIGTERM) ends the wait.
func openInput(ctx context.Context, name string, stdin io.Reader) (*input, error) {
	in := &input{name: name, close: func() error { return nil }}
	if name == "-" {
		in.source, in.r = "stdin", stdin
		in.file, _ = stdin.(*os.File)
	} else {
		f, err := openAside(ctx, name)
		if err != nil {
			return nil, err
		}
		in.source, in.r, in.file, in.close = name, f, f, f.Close
		if abs, err := filepath.Abs(name); err == nil {
			in.source = abs
		}
	}
	if in.file == nil {
		return in, nil
	}
	st, err := in.file.Stat()
	if err != nil {
		in.close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if st.Mode().IsRegular() {
		in.offset, err = in.file.Seek(0, io.SeekCurrent)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("seek %s: %w", name, err)
		}
		in.size = st.Size() - in.offset
	}
	return in, nil
}

// openAside is os.Open that gives up when ctx ends. An open still blocked
// then (a FIFO with no writer) is left to the process's exit: Go cannot
// interrupt it, and the file it may yet return is closed.
func openAside(ctx context.Context, name string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(name)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("opening %s: %w", name, ctx.Err())
	}
}
