package httpapi

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/heraldio/herald/feed"
)

// The accepted image types, recognised by their first bytes.
var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte("\xff\xd8\xff")
)

// errImageType answers an upload that is not a PNG or JPEG image.
var errImageType = feed.Errorf(feed.EInvalid, "Invalid image type: only PNG and JPEG images (png, jpg, jpeg) are accepted.")

// imageName is the form of generated image names; nothing else is served
// or deleted, so no request can reach another file.
var imageName = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpg)$`)

const (
	imagePrefix   = "images/"
	uploadPrefix  = ".upload-"
	maxFieldBytes = 64 << 10 // one text field of a multipart form
	maxFormText   = 1 << 20  // all text fields and headers of a multipart form
	uploadTimeout = 5 * time.Minute
)

// postForm is a post's form: text fields, and an uploaded image already in
// the images folder under its final name.
type postForm struct {
	fields  fields
	image   string // generated file name, "" when no image was uploaded
	badType bool   // a file was uploaded that is not an accepted image
	kept    bool
	dir     string
}

func (f *postForm) imageURL() string {
	if f.image == "" {
		return ""
	}
	return imagePrefix + f.image
}

// keep marks the uploaded image as used by a committed change.
func (f *postForm) keep() { f.kept = true }

// cleanup removes the uploaded image unless it was kept; it runs on every
// path out of a handler.
func (f *postForm) cleanup(log *slog.Logger) {
	if f == nil || f.kept || f.image == "" {
		return
	}
	if err := os.Remove(filepath.Join(f.dir, f.image)); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Error("remove unused upload", "file", f.image, "err", err)
	}
}

// readPostForm reads a post's form: multipart (the image as a file) or JSON
// (text only). The image is streamed to a temporary file, checked by content,
// synced and renamed to a generated name; it never sits whole in memory.
// Errors: ETooLarge over the limits, EBadRequest for a malformed body. The
// returned form is never nil, so its cleanup can be deferred at once.
func (h *Handler) readPostForm(w http.ResponseWriter, r *http.Request) (*postForm, error) {
	form := &postForm{fields: fields{}, dir: h.opts.ImagesDir}
	ct := r.Header.Get("Content-Type")
	if isJSON(ct) {
		f, err := h.readJSON(w, r)
		if err != nil {
			return form, err
		}
		form.fields = f
		return form, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return form, nil // no fields: validation answers
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxImageBytes+maxFormText)
	// The server sets no read timeout (it would cut WebSocket connections);
	// bound this body instead. An error means the writer cannot, which is fine.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadTimeout))
	mr, err := r.MultipartReader()
	if err != nil {
		return form, &feed.Error{Code: feed.EBadRequest, Message: "Invalid multipart body.", Err: err}
	}
	textLeft := int64(maxFormText)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return form, nil
		}
		if err != nil {
			return form, h.bodyError(err, "Invalid multipart body.")
		}
		name := part.FormName()
		switch {
		case part.FileName() != "" && name == "image" && form.image == "" && !form.badType:
			err = h.saveImage(form, part)
		case part.FileName() != "":
			err = h.discard(part)
		default:
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, min(maxFieldBytes, textLeft)+1))
			textLeft -= int64(len(b))
			if err == nil && (len(b) > maxFieldBytes || textLeft < 0) {
				err = feed.Errorf(feed.ETooLarge, "Form field %q too large.", name)
			}
			if err == nil && name != "" {
				if _, dup := form.fields[name]; !dup {
					form.fields[name] = string(b)
				}
			}
		}
		part.Close()
		if err != nil {
			return form, h.bodyError(err, "Invalid multipart body.")
		}
	}
}

// bodyError turns a body read error into the answer: 413 for the size
// limit, 400 otherwise; *feed.Error values pass through.
func (h *Handler) bodyError(err error, msg string) error {
	var fe *feed.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.As(err, &tooLarge):
		return h.errTooLarge()
	default:
		return &feed.Error{Code: feed.EBadRequest, Message: msg, Err: err}
	}
}

func (h *Handler) errTooLarge() error {
	return feed.Errorf(feed.ETooLarge, "Image too large: the limit is %s.", formatBytes(h.opts.MaxImageBytes))
}

// discard reads a part that is not used, still bounded by the image limit.
func (h *Handler) discard(part io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(part, h.opts.MaxImageBytes+1))
	if err == nil && n > h.opts.MaxImageBytes {
		return h.errTooLarge()
	}
	return err
}

// saveImage streams an uploaded file into the images folder. A file that is
// not PNG or JPEG is read to its end and marked badType.
func (h *Handler) saveImage(form *postForm, part io.Reader) (err error) {
	br := bufio.NewReader(part)
	head, _ := br.Peek(len(pngMagic))
	var ext string
	switch {
	case bytes.HasPrefix(head, pngMagic):
		ext = ".png"
	case bytes.HasPrefix(head, jpegMagic):
		ext = ".jpg"
	default:
		form.badType = true
		return h.discard(br)
	}
	tmp, err := os.CreateTemp(h.opts.ImagesDir, uploadPrefix+"*")
	if err != nil {
		return fmt.Errorf("create upload file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(br, h.opts.MaxImageBytes+1))
	if err != nil {
		return err
	}
	if n > h.opts.MaxImageBytes {
		return h.errTooLarge()
	}
	// Durable before the database refers to it.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close upload: %w", err)
	}
	name := newImageName() + ext
	if err := os.Rename(tmp.Name(), filepath.Join(h.opts.ImagesDir, name)); err != nil {
		return fmt.Errorf("rename upload: %w", err)
	}
	form.image = name
	return nil
}

func newImageName() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeImage deletes the file of an image URL after the change that
// released it has committed. URLs that are not generated names are ignored.
func (h *Handler) removeImage(url string) {
	name, ok := strings.CutPrefix(url, imagePrefix)
	if !ok || !imageName.MatchString(name) {
		return
	}
	if err := os.Remove(filepath.Join(h.opts.ImagesDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.log.Error("remove image", "file", name, "err", err)
	}
}

// removeStaleUploads deletes the temporary files of uploads that a crash
// interrupted.
func removeStaleUploads(dir string, log *slog.Logger) {
	matches, _ := filepath.Glob(filepath.Join(dir, uploadPrefix+"*"))
	for _, m := range matches {
		if err := os.Remove(m); err != nil {
			log.Warn("remove stale upload", "file", m, "err", err)
		}
	}
}

// image serves GET /images/{name}: only generated names, from the images
// folder; anything else is 404.
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	notFound := func() { writeJSON(w, http.StatusNotFound, message{"Image not found."}) }
	if !imageName.MatchString(name) {
		notFound()
		return
	}
	f, err := os.Open(filepath.Join(h.opts.ImagesDir, name))
	if err != nil {
		notFound()
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		notFound()
		return
	}
	ctype := "image/png"
	if strings.HasSuffix(name, ".jpg") {
		ctype = "image/jpeg"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable") // names are never reused
	hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, name, st.ModTime(), f)
}
