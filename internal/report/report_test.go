package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Format
		wantErr bool
	}{{"table", Table, false}, {"json", JSON, false}, {"JSON", "", true}, {"yaml", "", true}, {"", "", true}} {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWriteJSONIsOneDocument(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "{\n  \"a\": 1\n}\n" {
		t.Errorf("WriteJSON wrote %q", got)
	}
}

func TestJSONFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	type doc struct {
		Kind  string `json:"kind"`
		Count int    `json:"count"`
	}
	if err := WriteJSONFile(path, doc{"signal", 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	var got doc
	if err := ReadJSONFile(path, &got); err != nil {
		t.Fatal(err)
	}
	if got != (doc{"signal", 3}) {
		t.Errorf("read back %+v", got)
	}
}

func TestReadJSONFileErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("not json"), 0o644)
	var v map[string]any
	err := ReadJSONFile(garbage, &v)
	if err == nil || !strings.Contains(err.Error(), garbage) || !strings.Contains(err.Error(), "not a livectl JSON report") {
		t.Errorf("garbage file: error %v should name the file and say what is wrong", err)
	}
	if err := ReadJSONFile(filepath.Join(dir, "missing.json"), &v); err == nil {
		t.Error("missing file: no error")
	}
	if err := WriteJSONFile(filepath.Join(dir, "no", "such", "dir.json"), v); err == nil {
		t.Error("unwritable path: no error")
	}
}
