package memory_test

import (
	"testing"

	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/memory"
	"github.com/mlservice/mlservice/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return memory.New(t.Name()) })
}
