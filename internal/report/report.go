// Package report holds the one way livectl writes machine-readable output: a
// single JSON document on stdout, and the output-format switch every reporting
// command shares.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Format is the output format of a reporting command.
type Format string

// The formats accepted by -o/--output.
const (
	Table Format = "table"
	JSON  Format = "json"
)

// ParseFormat validates an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("invalid output format %q: want table or json", s)
}

// WriteJSON writes v as one indented JSON document followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSONFile writes v as JSON to path, atomically replacing any old file.
func WriteJSONFile(path string, v any) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	if err := WriteJSON(f, v); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadJSONFile decodes the JSON document in path into v.
func ReadJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading report: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("reading report %s: not a livectl JSON report: %w", path, err)
	}
	return nil
}
