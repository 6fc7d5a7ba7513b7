package release

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Entry is one file put into an archive.
type Entry struct {
	// Name is the path inside the archive (slash-separated).
	Name string
	// Source is the file on disk whose bytes are archived.
	Source string
	// Mode is the archived permission bits (0o755 for executables, 0o644 otherwise).
	Mode fs.FileMode
}

// ArchivedFile is one regular file found in an archive.
type ArchivedFile struct {
	Name string
	Mode fs.FileMode
	Size int64
}

// WriteArchive writes entries, in order, to a .tar.gz or .zip (chosen by dst's
// extension). Every entry gets the same modification time and no owner, so the same
// inputs give byte-identical archives (and the same sha256).
func WriteArchive(dst string, entries []Entry, mtime time.Time) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("create archive %s: %w", dst, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close archive %s: %w", dst, cerr)
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	w := bufio.NewWriter(f)
	switch {
	case strings.HasSuffix(dst, ".tar.gz"):
		err = writeTarGz(w, entries, mtime.UTC())
	case strings.HasSuffix(dst, ".zip"):
		err = writeZip(w, entries, mtime.UTC())
	default:
		err = fmt.Errorf("archive %s: unknown format (want .tar.gz or .zip)", dst)
	}
	if err != nil {
		return fmt.Errorf("write archive %s: %w", dst, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write archive %s: %w", dst, err)
	}
	return nil
}

func writeTarGz(w io.Writer, entries []Entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := addTar(tw, e, mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addTar(tw *tar.Writer, e Entry, mtime time.Time) error {
	src, size, err := openEntry(e)
	if err != nil {
		return err
	}
	defer src.Close()
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     e.Name,
		Mode:     int64(e.Mode.Perm()),
		Size:     size,
		ModTime:  mtime,
		// USTAR: no PAX records with sub-second times or build-host data.
		Format: tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("add %s: %w", e.Name, err)
	}
	if _, err := io.Copy(tw, src); err != nil {
		return fmt.Errorf("add %s: %w", e.Name, err)
	}
	return nil
}

func writeZip(w io.Writer, entries []Entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		src, _, err := openEntry(e)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(e.Mode.Perm())
		dst, err := zw.CreateHeader(hdr)
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		src.Close()
		if err != nil {
			return fmt.Errorf("add %s: %w", e.Name, err)
		}
	}
	return zw.Close()
}

func openEntry(e Entry) (*os.File, int64, error) {
	if e.Name == "" || strings.HasPrefix(e.Name, "/") || strings.Contains(e.Name, "..") {
		return nil, 0, fmt.Errorf("archive entry name %q: want a relative path", e.Name)
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s for %s: %w", e.Source, e.Name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", e.Source, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("archive %s: %s is not a regular file", e.Name, e.Source)
	}
	return f, st.Size(), nil
}

// ListArchive returns the regular files of a .tar.gz or .zip with their modes, in
// archive order. Anything but regular files and directories is an error: krew would
// not install it the way the manifest says.
func ListArchive(path string) ([]ArchivedFile, error) {
	var out []ArchivedFile
	err := walkArchive(path, func(f ArchivedFile, _ io.Reader) error {
		out = append(out, f)
		return nil
	})
	return out, err
}

// ReadArchivedFile returns the bytes of one file in a .tar.gz or .zip.
func ReadArchivedFile(path, name string) ([]byte, error) {
	var data []byte
	found := false
	err := walkArchive(path, func(f ArchivedFile, r io.Reader) error {
		if f.Name != name || found {
			return nil
		}
		found = true
		var err error
		data, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("read %s from archive %s: %w", name, path, fs.ErrNotExist)
	}
	return data, nil
}

// walkArchive calls fn for each regular file with a reader of its content.
func walkArchive(path string, fn func(ArchivedFile, io.Reader) error) error {
	var err error
	switch {
	case strings.HasSuffix(path, ".tar.gz"):
		err = walkTarGz(path, fn)
	case strings.HasSuffix(path, ".zip"):
		err = walkZip(path, fn)
	default:
		err = errors.New("unknown format (want .tar.gz or .zip)")
	}
	if err != nil {
		return fmt.Errorf("read archive %s: %w", path, err)
	}
	return nil
}

func walkTarGz(path string, fn func(ArchivedFile, io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			af := ArchivedFile{Name: hdr.Name, Mode: fs.FileMode(hdr.Mode).Perm(), Size: hdr.Size}
			if err := fn(af, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s has unsupported type %c", hdr.Name, hdr.Typeflag)
		}
	}
}

func walkZip(path string, fn func(ArchivedFile, io.Reader) error) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		m := f.Mode()
		switch {
		case m.IsDir():
		case m.IsRegular():
			r, err := f.Open()
			if err != nil {
				return err
			}
			err = fn(ArchivedFile{Name: f.Name, Mode: m.Perm(), Size: int64(f.UncompressedSize64)}, r)
			r.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s has unsupported mode %s", f.Name, m)
		}
	}
	return nil
}

// FileSHA256 is the hex sha256 of a file, as krew and sha256sum print it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteChecksums writes sha256sum-format lines ("<sha>  <name>", names relative) to
// dst: `sha256sum -c` then verifies downloads in the same folder.
func WriteChecksums(dst string, artifacts ...Artifact) error {
	var b strings.Builder
	for _, a := range artifacts {
		fmt.Fprintf(&b, "%s  %s\n", a.SHA256, filepath.Base(a.Path))
	}
	if err := os.WriteFile(dst, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write checksums %s: %w", dst, err)
	}
	return nil
}
