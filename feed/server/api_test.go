package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldio/herald/feed"
	"github.com/heraldio/herald/feed/server"
)

func TestSignupAndLogin(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)

		r := e.do("PUT", "/auth/signup", "", map[string]string{"email": "Ada@Example.COM", "password": "  secret  ", "name": " Ada ", "extra": "ignored"})
		expect(t, r, 201, "User created!")
		userID := r.str("userId")
		if !feed.ValidID(userID) {
			t.Fatalf("userId %q is not a 24-hex id", userID)
		}

		// Every rule broken at once: the data list, as express-validator gives it.
		r = e.do("PUT", "/auth/signup", "", map[string]string{"email": "not-an-email", "password": " abc ", "name": "   "})
		expect(t, r, 422, "Validation failed.")
		want := `[{"location":"body","msg":"Please enter a valid email.","param":"email","value":"not-an-email"},` +
			`{"location":"body","msg":"Invalid value","param":"password","value":"abc"},` +
			`{"location":"body","msg":"Invalid value","param":"name","value":""}]`
		if got := jsonString(r.json["data"]); got != want {
			t.Errorf("validation data = %s\nwant %s", got, want)
		}
		// Missing fields have no value.
		r = e.do("PUT", "/auth/signup", "", map[string]string{})
		expect(t, r, 422, "Validation failed.")
		if got := jsonString(r.json["data"]); got != `[{"location":"body","msg":"Please enter a valid email.","param":"email"},{"location":"body","msg":"Invalid value","param":"password"},{"location":"body","msg":"Invalid value","param":"name"}]` {
			t.Errorf("validation data for an empty body = %s", got)
		}

		// The email is taken whatever its case.
		r = e.do("PUT", "/auth/signup", "", map[string]string{"email": "ada@example.com", "password": "secret", "name": "Other"})
		expect(t, r, 422, "Validation failed.")
		if got := jsonString(r.json["data"]); got != `[{"location":"body","msg":"E-Mail address already exists!","param":"email","value":"ada@example.com"}]` {
			t.Errorf("duplicate email data = %s", got)
		}

		// Login matches the email case-insensitively.
		r = e.do("POST", "/auth/login", "", map[string]string{"email": "ADA@example.com", "password": "secret"})
		if r.status != 200 || r.str("userId") != userID || r.str("token") == "" {
			t.Fatalf("login = %d %s", r.status, r.body)
		}
		var c struct {
			Email  string `json:"email"`
			UserID string `json:"userId"`
			Iat    int64  `json:"iat"`
			Exp    int64  `json:"exp"`
		}
		tok, err := jwt.Parse(r.str("token"), func(*jwt.Token) (any, error) { return []byte(testSecret), nil })
		if err != nil || tok.Method.Alg() != "HS256" {
			t.Fatalf("token: %v, alg %v", err, tok.Method)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(r.str("token"), ".")[1])
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		if c.Email != "ada@example.com" || c.UserID != userID || c.Exp-c.Iat != 3600 {
			t.Errorf("claims = %+v; want email, userId and a one-hour lifetime", c)
		}

		r = e.do("POST", "/auth/login", "", map[string]string{"email": "ada@example.com", "password": "wrong1"})
		expect(t, r, 401, "Wrong password!")
		r = e.do("POST", "/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "secret"})
		expect(t, r, 401, "A user with this email could not be found.")
		r = e.do("POST", "/auth/login", "", `{"email":`)
		expect(t, r, 400, "Invalid JSON body.")
		r = e.do("PUT", "/auth/signup", "", `{"email":"big@example.com","name":"`+strings.Repeat("x", 1<<20)+`"}`)
		expect(t, r, 413, "Request body too large: the limit is 1 MiB.")
	})
}

func TestTokensRefused(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, userID := e.signup("tok@example.com", "Tok")
		if r := e.do("GET", "/auth/status", token, nil); r.status != 200 {
			t.Fatalf("valid token: %d %s", r.status, r.body)
		}
		now := time.Now()
		claims := jwt.MapClaims{"email": "tok@example.com", "userId": userID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
			s, err := jwt.NewWithClaims(m, c).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		expired := jwt.MapClaims{"email": "tok@example.com", "userId": userID, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}
		noExp := jwt.MapClaims{"email": "tok@example.com", "userId": userID, "iat": now.Unix()}
		b64 := base64.RawURLEncoding.EncodeToString
		body, _ := json.Marshal(claims)
		rsHead := b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + b64(body)
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write([]byte(rsHead))
		cases := map[string]string{
			"expired":        sign(jwt.SigningMethodHS256, []byte(testSecret), expired),
			"no exp":         sign(jwt.SigningMethodHS256, []byte(testSecret), noExp),
			"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
			"HS512":          sign(jwt.SigningMethodHS512, []byte(testSecret), claims),
			"RS256 header":   rsHead + "." + b64(mac.Sum(nil)),
			"other secret":   sign(jwt.SigningMethodHS256, []byte("another secret entirely, 32 bytes+"), claims),
			"malformed":      "not.a.token",
			"garbage":        "garbage",
			"tampered":       token[:len(token)-4] + "AAAA",
			"bad userId":     sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"userId": "../x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}),
			"empty bearer":   "",
			"lowercase none": b64([]byte(`{"alg":"none"}`)) + "." + b64(body) + ".",
		}
		for name, tok := range cases {
			for _, path := range []string{"/auth/status", "/feed/posts"} {
				r := e.do("GET", path, tok, nil)
				if name == "empty bearer" {
					req, _ := http.NewRequest("GET", e.url+path, nil)
					req.Header.Set("Authorization", "Bearer ")
					res, err := e.client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != 401 {
						t.Errorf("%s on %s: %d, want 401", name, path, res.StatusCode)
					}
					continue
				}
				if r.status != 401 || r.str("message") != "Not authenticated." {
					t.Errorf("%s token on %s: %d %s; want 401 Not authenticated.", name, path, r.status, r.body)
				}
			}
		}
		// No header, and another scheme.
		expect(t, e.do("GET", "/auth/status", "", nil), 401, "Not authenticated.")
		req, _ := http.NewRequest("GET", e.url+"/auth/status", nil)
		req.Header.Set("Authorization", "Basic "+token)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("Basic scheme: %d, want 401", res.StatusCode)
		}
		// Every authenticated route refuses without a token.
		id := feed.NewID()
		for _, rt := range [][2]string{{"GET", "/auth/status"}, {"PATCH", "/auth/status"}, {"GET", "/feed/posts"},
			{"POST", "/feed/post"}, {"GET", "/feed/post/" + id}, {"PUT", "/feed/post/" + id}, {"DELETE", "/feed/post/" + id}} {
			expect(t, e.do(rt[0], rt[1], "", nil), 401, "Not authenticated.")
		}
	})
}

func TestStatus(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("st@example.com", "St")
		r := e.do("GET", "/auth/status", token, nil)
		if r.status != 200 || jsonString(r.json) != `{"status":"I am new!"}` {
			t.Fatalf("GET status = %d %s", r.status, r.body)
		}
		expect(t, e.do("PATCH", "/auth/status", token, map[string]string{"status": "  Out fishing  "}), 200, "User updated.")
		if r := e.do("GET", "/auth/status", token, nil); r.str("status") != "Out fishing" {
			t.Errorf("status after PATCH = %s", r.body)
		}
		r = e.do("PATCH", "/auth/status", token, map[string]string{"status": "   "})
		expect(t, r, 422, "Validation failed.")
		if got := jsonString(r.json["data"]); got != `[{"location":"body","msg":"Status must not be empty.","param":"status","value":""}]` {
			t.Errorf("data = %s", got)
		}
		expect(t, e.do("PATCH", "/auth/status", token, map[string]string{}), 422, "Validation failed.")
		if r := e.do("GET", "/auth/status", token, nil); r.str("status") != "Out fishing" {
			t.Errorf("a refused PATCH changed the status: %s", r.body)
		}

		// A valid token for a user that does not exist.
		now := time.Now()
		ghost, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"email": "g@example.com", "userId": feed.NewID(),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
		expect(t, e.do("GET", "/auth/status", ghost, nil), 404, "User not found.")
		expect(t, e.do("PATCH", "/auth/status", ghost, map[string]string{"status": "x"}), 404, "User not found.")
		expect(t, e.do("POST", "/feed/post", ghost, newForm("title", "Ghost post", "content", "Ghost content").file("image", "a.png", pngImage).done()), 401, "Not authenticated.")
		if files := e.imageFiles(); len(files) != 0 {
			t.Errorf("images left after a refused create: %v", files)
		}
	})
}

var isoMillis = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func checkPostShape(t *testing.T, p map[string]any) {
	t.Helper()
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "_id,content,createdAt,creator,imageUrl,title,updatedAt" {
		t.Errorf("post fields = %v", keys)
	}
	creator, _ := p["creator"].(map[string]any)
	if len(creator) != 2 || !feed.ValidID(jsonStr(creator["_id"])) || jsonStr(creator["name"]) == "" {
		t.Errorf("creator = %v, want {_id, name}", p["creator"])
	}
	if !feed.ValidID(jsonStr(p["_id"])) || !isoMillis.MatchString(jsonStr(p["createdAt"])) || !isoMillis.MatchString(jsonStr(p["updatedAt"])) {
		t.Errorf("post id or times malformed: %v", p)
	}
	if !regexp.MustCompile(`^images/[0-9a-f]{32}\.(png|jpg)$`).MatchString(jsonStr(p["imageUrl"])) {
		t.Errorf("imageUrl = %v", p["imageUrl"])
	}
}

func jsonStr(v any) string {
	s, _ := v.(string)
	return s
}

func TestListPosts(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("list@example.com", "Lister")
		r := e.do("GET", "/feed/posts", token, nil)
		expect(t, r, 200, "Fetched posts successfully.")
		if jsonString(r.json["posts"]) != "[]" || r.json["totalItems"] != 0.0 {
			t.Fatalf("empty list = %s", r.body)
		}
		var ids []string // in creation order
		for i := range 5 {
			ids = append(ids, jsonStr(e.createPost(token, "Post number "+string(rune('A'+i)))["_id"]))
		}
		newest := slices.Clone(ids)
		slices.Reverse(newest)
		// Posts created in one second tie on createdAt at times; the order is
		// (createdAt desc, _id desc) either way. Read the expected order back
		// from the single-post route.
		type key struct{ at, id string }
		var keys []key
		for _, id := range ids {
			p := e.do("GET", "/feed/post/"+id, token, nil).json["post"].(map[string]any)
			keys = append(keys, key{jsonStr(p["createdAt"]), id})
		}
		slices.SortFunc(keys, func(a, b key) int {
			if c := strings.Compare(b.at, a.at); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		})
		var want []string
		for _, k := range keys {
			want = append(want, k.id)
		}

		page := func(q string) ([]string, float64) {
			r := e.do("GET", "/feed/posts"+q, token, nil)
			expect(t, r, 200, "Fetched posts successfully.")
			var got []string
			for _, p := range r.json["posts"].([]any) {
				checkPostShape(t, p.(map[string]any))
				got = append(got, jsonStr(p.(map[string]any)["_id"]))
			}
			return got, r.json["totalItems"].(float64)
		}
		for q, w := range map[string][]string{
			"":                   want[:2],
			"?page=1":            want[:2],
			"?page=2":            want[2:4],
			"?page=3":            want[4:],
			"?page=4":            nil,
			"?perPage=5":         want,
			"?page=2&perPage=3":  want[3:],
			"?perPage=100":       want,
			"?page=1&perPage=1":  want[:1],
			"?page=&perPage=":    want[:2],
			"?page=5&perPage=1":  want[4:],
			"?page=2&perPage=10": nil,
		} {
			got, total := page(q)
			if !slices.Equal(got, w) || total != 5 {
				t.Errorf("GET /feed/posts%s = %v total %v; want %v total 5", q, got, total, w)
			}
		}
		for _, q := range []string{"?perPage=0", "?perPage=101", "?perPage=abc", "?page=0", "?page=-1", "?page=x"} {
			r := e.do("GET", "/feed/posts"+q, token, nil)
			expect(t, r, 422, "Validation failed.")
			if d, _ := r.json["data"].([]any); len(d) != 1 || d[0].(map[string]any)["location"] != "query" {
				t.Errorf("%s data = %s", q, r.body)
			}
		}
	})
}

func TestCreatePost(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind, func(c *server.Config) { c.MaxImageBytes = 2000 })
		token, userID := e.signup("create@example.com", "Creator")

		r := e.do("POST", "/feed/post", token, newForm("title", "  My title  ", "content", "  Some content  ").file("image", "photo.png", pngImage).done())
		expect(t, r, 201, "Post created successfully!")
		post := r.json["post"].(map[string]any)
		checkPostShape(t, post)
		if post["title"] != "My title" || post["content"] != "Some content" {
			t.Errorf("title and content not trimmed: %v", post)
		}
		if jsonString(post["creator"]) != jsonString(map[string]string{"_id": userID, "name": "Creator"}) ||
			jsonString(r.json["creator"]) != jsonString(post["creator"]) {
			t.Errorf("creator = %v / %v", post["creator"], r.json["creator"])
		}
		if post["createdAt"] != post["updatedAt"] {
			t.Errorf("new post times differ: %v", post)
		}
		url := jsonStr(post["imageUrl"])
		if !strings.HasSuffix(url, ".png") || !e.imageExists(url) {
			t.Fatalf("image %s not stored as png", url)
		}
		img := e.do("GET", "/"+url, "", nil)
		if img.status != 200 || string(img.body) != string(pngImage) || img.header.Get("Content-Type") != "image/png" ||
			img.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s = %d %q %v", url, img.status, img.header.Get("Content-Type"), img.header)
		}

		// A JPEG, declared with a misleading name: the content decides.
		r = e.do("POST", "/feed/post", token, newForm("title", "Jpeg post", "content", "Jpeg content").file("image", "photo.gif", jpegImage).done())
		expect(t, r, 201, "Post created successfully!")
		if u := jsonStr(r.json["post"].(map[string]any)["imageUrl"]); !strings.HasSuffix(u, ".jpg") || !e.imageExists(u) {
			t.Errorf("jpeg stored as %s", u)
		}
		before := e.imageFiles()

		// A text file renamed .png.
		r = e.do("POST", "/feed/post", token, newForm("title", "Fake image", "content", "Fake content").file("image", "fake.png", []byte("just some text, not an image")).done())
		expect(t, r, 422, "Invalid image type: only PNG and JPEG images (png, jpg, jpeg) are accepted.")
		// Too short after trimming.
		r = e.do("POST", "/feed/post", token, newForm("title", "  abc  ", "content", "Long enough").file("image", "a.png", pngImage).done())
		expect(t, r, 422, "Validation failed, entered data is incorrect.")
		if got := jsonString(r.json["data"]); got != `[{"location":"body","msg":"Invalid value","param":"title","value":"abc"}]` {
			t.Errorf("data = %s", got)
		}
		expect(t, e.do("POST", "/feed/post", token, newForm("title", "Long enough", "content", "ab").file("image", "a.png", pngImage).done()),
			422, "Validation failed, entered data is incorrect.")
		expect(t, e.do("POST", "/feed/post", token, newForm("title", "Long enough", "content", "Long enough").done()), 422, "No image provided.")
		// A browser's empty file input.
		expect(t, e.do("POST", "/feed/post", token, newForm("title", "Long enough", "content", "Long enough").file("image", "", nil).done()), 422, "No image provided.")
		expect(t, e.do("POST", "/feed/post", token, map[string]string{"title": "Long enough", "content": "Long enough"}), 422, "No image provided.")
		// Over the configured limit (2000 bytes).
		big := append(slices.Clone(pngImage), make([]byte, 4000)...)
		r = e.do("POST", "/feed/post", token, newForm("title", "Big image", "content", "Big content").file("image", "big.png", big).done())
		expect(t, r, 413, "Image too large: the limit is 2 kB.")
		exact := append(slices.Clone(pngImage), make([]byte, 2000-len(pngImage))...)
		expect(t, e.do("POST", "/feed/post", token, newForm("title", "Exact size", "content", "Exact content").file("image", "ok.png", exact).done()),
			201, "Post created successfully!")

		after := e.imageFiles()
		if len(after) != len(before)+1 {
			t.Errorf("image files after refused uploads: %v, before %v (want one more, the exact-size one)", after, before)
		}
		for _, f := range after {
			if strings.HasPrefix(f, ".upload-") {
				t.Errorf("temporary file left: %s", f)
			}
		}
		if r := e.do("GET", "/feed/posts", token, nil); r.json["totalItems"] != 3.0 {
			t.Errorf("totalItems = %v, want 3", r.json["totalItems"])
		}
	})
}

func TestGetPost(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("get@example.com", "Getter")
		p := e.createPost(token, "Fetch me")
		r := e.do("GET", "/feed/post/"+jsonStr(p["_id"]), token, nil)
		expect(t, r, 200, "Post fetched.")
		if jsonString(r.json["post"]) != jsonString(p) {
			t.Errorf("post = %s, want %s", jsonString(r.json["post"]), jsonString(p))
		}
		for _, id := range []string{feed.NewID(), "abc", "ZZZZZZZZZZZZZZZZZZZZZZZZ", strings.ToUpper(jsonStr(p["_id"])), jsonStr(p["_id"]) + "0", "%27%20OR%201=1"} {
			expect(t, e.do("GET", "/feed/post/"+id, token, nil), 404, "Could not find post.")
		}
	})
}

func TestEditPost(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("edit@example.com", "Editor")
		other, _ := e.signup("other@example.com", "Other")
		p := e.createPost(token, "Original title")
		id, url := jsonStr(p["_id"]), jsonStr(p["imageUrl"])

		// The image text keeps the current image, whatever it says.
		// Even a path to another file is never stored: the current image stays.
		for i, keep := range []string{"undefined", "null", "", url, "images/0123456789abcdef0123456789abcdef.png", "../../etc/passwd"} {
			title := "Kept image " + string(rune('A'+i))
			r := e.do("PUT", "/feed/post/"+id, token, newForm("title", title, "content", "New content", "image", keep).done())
			expect(t, r, 200, "Post updated!")
			got := r.json["post"].(map[string]any)
			checkPostShape(t, got)
			if got["imageUrl"] != url || got["title"] != title || got["createdAt"] != p["createdAt"] {
				t.Errorf("image %q: post = %v", keep, got)
			}
			if !e.imageExists(url) {
				t.Fatalf("image %q: the kept file was removed", keep)
			}
		}
		// JSON works as well.
		expect(t, e.do("PUT", "/feed/post/"+id, token, map[string]string{"title": "Json title", "content": "Json content", "image": url}), 200, "Post updated!")

		// A new file replaces the image; the old file goes.
		r := e.do("PUT", "/feed/post/"+id, token, newForm("title", "New image", "content", "New content").file("image", "b.jpg", jpegImage).done())
		expect(t, r, 200, "Post updated!")
		newURL := jsonStr(r.json["post"].(map[string]any)["imageUrl"])
		if newURL == url || !e.imageExists(newURL) || e.imageExists(url) {
			t.Errorf("replace: new %s (exists %v), old %s (exists %v)", newURL, e.imageExists(newURL), url, e.imageExists(url))
		}
		if r := e.do("GET", "/feed/post/"+id, token, nil); jsonStr(r.json["post"].(map[string]any)["imageUrl"]) != newURL {
			t.Errorf("stored imageUrl = %s", r.body)
		}

		// Refusals change nothing and leave no file.
		files := e.imageFiles()
		expect(t, e.do("PUT", "/feed/post/"+id, other, newForm("title", "Hijacked", "content", "Hijacked").file("image", "c.png", pngImage).done()), 403, "Not authorized!")
		expect(t, e.do("PUT", "/feed/post/"+feed.NewID(), token, newForm("title", "Nowhere", "content", "Nowhere", "image", "undefined").done()), 404, "Could not find post.")
		expect(t, e.do("PUT", "/feed/post/not-an-id", token, newForm("title", "Nowhere", "content", "Nowhere", "image", "undefined").done()), 404, "Could not find post.")
		expect(t, e.do("PUT", "/feed/post/"+id, token, newForm("title", "ab", "content", "Long enough", "image", "undefined").done()), 422, "Validation failed, entered data is incorrect.")
		expect(t, e.do("PUT", "/feed/post/"+id, token, newForm("title", "Long enough", "content", "Long enough").done()), 422, "No file picked.")
		expect(t, e.do("PUT", "/feed/post/"+id, token, newForm("title", "Long enough", "content", "Long enough").file("image", "t.png", []byte("text")).done()),
			422, "Invalid image type: only PNG and JPEG images (png, jpg, jpeg) are accepted.")
		if got := e.imageFiles(); !slices.Equal(got, files) {
			t.Errorf("files after refused edits = %v, want %v", got, files)
		}
		if r := e.do("GET", "/feed/post/"+id, token, nil); r.json["post"].(map[string]any)["title"] != "New image" {
			t.Errorf("a refused edit changed the post: %s", r.body)
		}
	})
}

func TestDeletePost(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("del@example.com", "Deleter")
		other, _ := e.signup("nodel@example.com", "Other")
		p := e.createPost(token, "Delete me")
		id, url := jsonStr(p["_id"]), jsonStr(p["imageUrl"])
		expect(t, e.do("DELETE", "/feed/post/"+id, other, nil), 403, "Not authorized!")
		if !e.imageExists(url) {
			t.Fatal("a refused delete removed the image")
		}
		expect(t, e.do("DELETE", "/feed/post/"+id, token, nil), 200, "Deleted post.")
		if e.imageExists(url) {
			t.Error("the image file is still there after delete")
		}
		expect(t, e.do("GET", "/feed/post/"+id, token, nil), 404, "Could not find post.")
		expect(t, e.do("DELETE", "/feed/post/"+id, token, nil), 404, "Could not find post.")
		expect(t, e.do("DELETE", "/feed/post/xyz", token, nil), 404, "Could not find post.")
		expect(t, e.do("GET", "/"+url, "", nil), 404, "Image not found.")
		if r := e.do("GET", "/feed/posts", token, nil); r.json["totalItems"] != 0.0 {
			t.Errorf("totalItems = %v", r.json["totalItems"])
		}
	})
}

func TestImagesRoute(t *testing.T) {
	stores(t, func(t *testing.T, kind string) {
		e := start(t, kind)
		token, _ := e.signup("img@example.com", "Img")
		p := e.createPost(token, "With image")
		url := jsonStr(p["imageUrl"])
		if r := e.do("HEAD", "/"+url, "", nil); r.status != 200 {
			t.Errorf("HEAD %s = %d", url, r.status)
		}
		expect(t, e.do("GET", "/images/0123456789abcdef0123456789abcdef.png", "", nil), 404, "Image not found.")
		secret, err := os.ReadFile(filepath.Join(e.dataDir, "feed.db"))
		if kind == "postgres" {
			secret, err = []byte("postgres has no file here"), nil
		}
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(e.dataDir, "secret.txt"), []byte("TOP-SECRET"), 0o600)
		os.WriteFile(filepath.Join(e.dataDir, "images", "planted.png"), pngImage, 0o600) // not a generated name
		for _, path := range []string{
			"/images/../secret.txt", "/images/..%2fsecret.txt", "/images/%2e%2e/secret.txt", "/images/%2e%2e%2fsecret.txt",
			"/images/..%5csecret.txt", "/images/....//secret.txt", "/images/%252e%252e%252fsecret.txt", "/images/..", "/images/",
			"/images/../feed.db", "/images/..%2ffeed.db", "/images/..%2f..%2fetc%2fpasswd", "/images/planted.png",
			"/images/" + strings.TrimPrefix(url, "images/") + "/..%2f..%2fsecret.txt",
		} {
			req, _ := http.NewRequest("GET", e.url+path, nil)
			req.URL.RawPath = "" // send as written
			req.URL.Opaque = "//" + strings.TrimPrefix(e.url, "http://") + path
			res, err := e.client.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			b := make([]byte, 1<<20)
			n, _ := res.Body.Read(b)
			res.Body.Close()
			body := string(b[:n])
			if strings.Contains(body, "TOP-SECRET") || (len(secret) > 16 && strings.Contains(body, string(secret[:16]))) ||
				(path == "/images/planted.png" && res.StatusCode != 404) {
				t.Errorf("GET %s escaped: %d %q", path, res.StatusCode, body[:min(len(body), 80)])
			}
			if strings.HasPrefix(res.Header.Get("Content-Type"), "image/") {
				t.Errorf("GET %s served an image", path)
			}
		}
	})
}

// shortShutdown bounds the shutdown of tests that leave polling sessions
// open, which the server otherwise keeps for their clients to collect the
// close packet.
func shortShutdown(c *server.Config) { c.ShutdownTimeout = time.Second }

func TestCORSHeadersAndRoutes(t *testing.T) {
	t.Parallel()
	e := start(t, "sqlite", shortShutdown)
	token, _ := e.signup("cors@example.com", "Cors")
	check := func(r resp, what string) {
		t.Helper()
		h := r.header
		if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "OPTIONS, GET, POST, PUT, PATCH, DELETE" ||
			h.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization" {
			t.Errorf("%s: CORS headers %v", what, h)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers %v", what, h)
		}
	}
	for _, path := range []string{"/auth/signup", "/auth/login", "/auth/status", "/feed/posts", "/feed/post", "/feed/post/" + feed.NewID(), "/images/x.png", "/anything"} {
		r := e.do("OPTIONS", path, "", nil)
		if r.status != 200 {
			t.Errorf("OPTIONS %s = %d", path, r.status)
		}
		check(r, "OPTIONS "+path)
	}
	check(e.do("GET", "/feed/posts", "", nil), "401")
	check(e.do("GET", "/feed/posts", token, nil), "200")
	check(e.do("PUT", "/auth/signup", "", map[string]string{}), "422")
	expect(t, e.do("GET", "/feed/nothing", token, nil), 404, "Not found.")
	expect(t, e.do("POST", "/feed/posts", token, nil), 404, "Not found.")

	// The UI: security headers with a CSP allowing its own origin over ws/wss.
	r := e.do("GET", "/", "", nil)
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self' ws: wss:") ||
		r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		r.header.Get("Cross-Origin-Opener-Policy") != "same-origin" || !strings.Contains(r.header.Get("Permissions-Policy"), "camera=()") {
		t.Errorf("UI headers = %v", r.header)
	}
	// Health.
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 || string(r.body) != "ok\n" {
		t.Errorf("healthz = %d %q", r.status, r.body)
	}

	// Socket.IO: the request's origin is echoed with credentials, never "*".
	for _, eio := range []string{"4", "3"} {
		req, _ := http.NewRequest("GET", e.url+"/socket.io/?EIO="+eio+"&transport=polling", nil)
		req.Header.Set("Origin", "http://other.example:3000")
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "http://other.example:3000" ||
			res.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("EIO=%s handshake: %d %v", eio, res.StatusCode, res.Header)
		}
	}
}

func TestSocketIOAllowList(t *testing.T) {
	t.Parallel()
	e := start(t, "sqlite", shortShutdown, func(c *server.Config) { c.CORSOrigins = []string{"http://good.example"} })
	for origin, want := range map[string]string{"http://good.example": "http://good.example", "http://evil.example": ""} {
		req, _ := http.NewRequest("GET", e.url+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", origin)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}
}
