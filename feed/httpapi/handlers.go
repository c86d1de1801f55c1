package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldio/herald/feed"
)

func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	f, err := h.readJSON(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	u, err := h.svc.Signup(r.Context(), feed.SignupInput{Email: f.get("email"), Password: f.get("password"), Name: f.get("name")})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Message string `json:"message"`
		UserID  string `json:"userId"`
	}{"User created!", u.ID})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	f, err := h.readJSON(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	end, retry, ok := h.limit.begin(feed.NormalizeEmail(f["email"]), h.limit.cfg.ClientIP(r))
	if !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
		h.writeError(w, r, errTooManyLogins)
		return
	}
	defer end(false, false) // releases the attempt even if Login panics; a no-op after the call below
	u, err := h.svc.Login(r.Context(), f["email"], f["password"])
	// Only wrong credentials count: a database outage is not a guess.
	end(feed.ErrorCode(err) == feed.EUnauthenticated, err == nil)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	token, err := h.issueToken(u)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Token  string `json:"token"`
		UserID string `json:"userId"`
	}{token, u.ID})
}

// errTooManyLogins answers a login while its account or address is blocked.
var errTooManyLogins = feed.Errorf(feed.ETooMany, "Too many failed login attempts, please try again later.")

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	status, err := h.svc.Status(r.Context(), requestUser(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{status})
}

func (h *Handler) setStatus(w http.ResponseWriter, r *http.Request) {
	f, err := h.readJSON(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.svc.SetStatus(r.Context(), requestUser(r), f.get("status")); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, message{"User updated."})
}

// queryInt reads a positive integer query parameter, def when absent or empty.
func queryInt(r *http.Request, name string, def, max int) (int, *feed.FieldError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, &feed.FieldError{Location: "query", Param: name, Value: &s,
			Msg: "Must be an integer from 1 to " + strconv.Itoa(max) + "."}
	}
	return n, nil
}

func (h *Handler) posts(w http.ResponseWriter, r *http.Request) {
	page, pageErr := queryInt(r, "page", 1, 1_000_000)
	perPage, perPageErr := queryInt(r, "perPage", feed.DefaultPerPage, feed.MaxPerPage)
	var data []feed.FieldError
	for _, e := range []*feed.FieldError{pageErr, perPageErr} {
		if e != nil {
			data = append(data, *e)
		}
	}
	if data != nil {
		h.writeError(w, r, &feed.Error{Code: feed.EInvalid, Message: "Validation failed.", Data: data})
		return
	}
	posts, total, err := h.svc.Posts(r.Context(), page, perPage)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Message    string      `json:"message"`
		Posts      []feed.Post `json:"posts"`
		TotalItems int         `json:"totalItems"`
	}{"Fetched posts successfully.", posts, total})
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.Post(r.Context(), r.PathValue("postId"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Message string     `json:"message"`
		Post    *feed.Post `json:"post"`
	}{"Post fetched.", p})
}

func (h *Handler) createPost(w http.ResponseWriter, r *http.Request) {
	form, err := h.readPostForm(w, r)
	defer form.cleanup(h.log)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	in := feed.PostInput{Title: form.fields.get("title"), Content: form.fields.get("content")}
	if err := feed.ValidatePost(in.Title, in.Content); err != nil {
		h.writeError(w, r, err)
		return
	}
	if form.badType {
		h.writeError(w, r, errImageType)
		return
	}
	p, err := h.svc.CreatePost(r.Context(), requestUser(r), in, form.imageURL())
	if err != nil {
		keepIfUnknown(form, err)
		h.writeError(w, r, err)
		return
	}
	form.keep()
	writeJSON(w, http.StatusCreated, struct {
		Message string       `json:"message"`
		Post    *feed.Post   `json:"post"`
		Creator feed.Creator `json:"creator"`
	}{"Post created successfully!", p, p.Creator})
}

func (h *Handler) updatePost(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("postId")
	if !feed.ValidID(id) { // before reading an upload for nothing
		h.writeError(w, r, feed.Errorf(feed.ENotFound, "Could not find post."))
		return
	}
	form, err := h.readPostForm(w, r)
	defer form.cleanup(h.log)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	in := feed.PostInput{Title: form.fields.get("title"), Content: form.fields.get("content")}
	if err := feed.ValidatePost(in.Title, in.Content); err != nil {
		h.writeError(w, r, err)
		return
	}
	if form.badType {
		h.writeError(w, r, errImageType)
		return
	}
	// A new file replaces the image. Without one, an image text field (the
	// current imageUrl, or "undefined", "null" or "" from clients that lost
	// it) keeps the current image: the text is never stored as a path.
	imageURL := form.imageURL()
	if imageURL == "" && form.fields.get("image") == nil {
		h.writeError(w, r, feed.Errorf(feed.EInvalid, "No file picked."))
		return
	}
	p, old, err := h.svc.UpdatePost(r.Context(), requestUser(r), id, in, imageURL)
	if err != nil {
		keepIfUnknown(form, err)
		h.writeError(w, r, err)
		return
	}
	form.keep()
	if old != p.ImageURL {
		h.removeImage(old)
	}
	writeJSON(w, http.StatusOK, struct {
		Message string     `json:"message"`
		Post    *feed.Post `json:"post"`
	}{"Post updated!", p})
}

// keepIfUnknown keeps the uploaded image when the write failed in a way
// that leaves its outcome unknown: the post may have been committed and
// refer to it. An unused file is the lesser harm than a post whose image is
// gone.
func keepIfUnknown(form *postForm, err error) {
	if errors.Is(err, feed.ErrOutcomeUnknown) {
		form.keep()
	}
}

func (h *Handler) deletePost(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.DeletePost(r.Context(), requestUser(r), r.PathValue("postId"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.removeImage(p.ImageURL)
	writeJSON(w, http.StatusOK, message{"Deleted post."})
}
