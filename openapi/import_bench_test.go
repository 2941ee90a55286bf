package openapi

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkImportBox imports the largest corpus document (1.76 MB, 296
// operations, ~1,400 $refs): parse, resolve and map.
func BenchmarkImportBox(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "box-platform.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Import(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
