package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// checkWritable checks, before a job that takes a while, that the file a
// flag names can be written: it is not a directory and its directory takes
// a new file. A bad path is then a usage error found at once, not after a
// 30-minute run whose results it would lose. "" (not asked for) passes.
func checkWritable(f *Factory, flag, path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return UsageErrorf("%s %s: is a directory; give a file name", f.FlagRef(flag), path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".livectl-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return UsageErrorf("%s %s: cannot create a file in %s: %v", f.FlagRef(flag), path, dir, err)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return nil
}
