package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldio/herald/feed/httpapi"
)

// checkAnswer fails on a 5xx, a status outside allowed, or a JSON body that
// is not the contract's shape.
func checkAnswer(t *testing.T, r result, allowed ...int) {
	t.Helper()
	if r.status >= 500 || !slices.Contains(allowed, r.status) {
		t.Fatalf("status %d %q; want one of %v", r.status, r.body, allowed)
	}
	if r.status >= 400 {
		if _, ok := r.json["message"].(string); !ok {
			t.Fatalf("error %d without a message: %q", r.status, r.body)
		}
	}
}

// fuzzAPI is a Handler for fuzzing: small limits so that the size checks are
// reached, and a user with a token and a post.
func fuzzAPI(t testing.TB) (a *api, token, postID string) {
	a = newAPI(t, func(o *httpapi.Options) {
		o.MaxImageBytes = 4096
		o.MaxJSONBytes = 4096
	})
	a.signup("fuzz@example.com", "fuzz-password")
	r := a.login("127.0.0.1", "fuzz@example.com", "fuzz-password")
	token = r.str("token")
	body, ct := multipartBody(pngImage, "title", "A first post", "content", "Some content")
	req := httptest.NewRequest("POST", "/feed/post", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	r = a.serve(req)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return a, token, r.json["post"].(map[string]any)["_id"].(string)
}

// FuzzJSONBodies sends arbitrary bodies to the JSON routes: signup, login
// and the status update. No input may cause a 5xx or a panic.
func FuzzJSONBodies(f *testing.F) {
	seeds := []string{
		`{"email":"a@example.com","password":"secret","name":"A"}`,
		`{"email":"fuzz@example.com","password":"fuzz-password"}`,
		`{"status":"Hello"}`, `{"status":"   "}`, `{"status":` + strings.Repeat("[", 10000),
		`{"email":1e309,"password":true,"name":null}`, `{"email":"\u0000@x.io"}`, `[]`, `"str"`, `null`, ``,
		`{"email":"x@example.com","password":"` + strings.Repeat("p", 73) + `","name":"n"}`,
		`{"email":"' OR 1=1 --@example.com","password":"'; DROP TABLE users; --","name":"Robert'); DROP TABLE posts;--"}`,
		`{"a":1}{"b":2}`, "{\"email\":\"\xff\xfe@example.com\"}", strings.Repeat(`{"a":`, 5000),
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	a0, token, _ := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		a := a0.with(t)
		switch route % 3 {
		case 0:
			checkAnswer(t, a.do("PUT", "/auth/signup", "", "", body), 201, 400, 413, 422)
		case 1:
			checkAnswer(t, a.do("POST", "/auth/login", "", "", body), 200, 400, 401, 413, 429)
		case 2:
			checkAnswer(t, a.do("PATCH", "/auth/status", token, "", body), 200, 400, 413, 422)
		}
	})
}

// FuzzPostForm sends arbitrary multipart bodies (and Content-Types) to the
// create and edit routes. No input may cause a 5xx or a panic, and a
// refused request leaves no file behind in the images folder.
func FuzzPostForm(f *testing.F) {
	valid, ct := multipartBody(pngImage, "title", "Fuzzed title", "content", "Fuzzed content")
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	noImage, _ := multipartBody(nil, "title", "Fuzzed title", "content", "Fuzzed content", "image", "undefined")
	jpeg, _ := multipartBody([]byte("\xff\xd8\xff\xe0junk"), "title", "t", "content", "c")
	gif, _ := multipartBody([]byte("GIF89a....."), "title", "Fuzzed title", "content", "Fuzzed content")
	big, _ := multipartBody(append(append([]byte{}, pngImage...), make([]byte, 5000)...), "title", "Fuzzed title", "content", "Fuzzed content")
	for i, b := range [][]byte{valid, noImage, jpeg, gif, big, valid[:len(valid)/2], []byte("--" + boundary + "\r\n\r\n"), {}} {
		f.Add(uint8(i), boundary, b)
	}
	f.Add(uint8(1), "", []byte(`{"title":"JSON title","content":"JSON content","image":"images/x.png"}`))
	f.Add(uint8(0), `"quoted;boundary"`, []byte("--quoted;boundary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"../../etc/passwd\"\r\n\r\n\x89PNG\r\n\x1a\n\r\n--quoted;boundary--\r\n"))
	a0, token, postID := fuzzAPI(f)
	imagesDir := filepath.Join(a0.dir, "images")
	f.Fuzz(func(t *testing.T, route uint8, boundary string, body []byte) {
		a := a0.with(t)
		before := fileNames(t, imagesDir)
		method, path := "POST", "/feed/post"
		if route%2 == 1 {
			method, path = "PUT", "/feed/post/"+postID
		}
		req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
		switch {
		case boundary == "":
			req.Header.Set("Content-Type", "application/json")
		case route%4 >= 2:
			req.Header.Set("Content-Type", boundary) // an arbitrary Content-Type
		default:
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		r := a.serve(req)
		checkAnswer(t, r, 200, 201, 400, 413, 422)
		after := fileNames(t, imagesDir)
		for _, name := range after {
			if strings.HasPrefix(name, ".upload-") {
				t.Fatalf("temporary upload left behind: %s", name)
			}
		}
		// A refused request adds no file; an accepted one at most one.
		if r.status >= 400 && len(after) > len(before) || len(after) > len(before)+1 {
			t.Fatalf("%d answer: files went from %v to %v", r.status, before, after)
		}
	})
}

func fileNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// FuzzToken sends arbitrary Authorization headers and token payloads:
// anything but a valid HS256 token signed with the secret is 401, and
// nothing is a 5xx or a panic.
func FuzzToken(f *testing.F) {
	a0, token, _ := fuzzAPI(f)
	parts := strings.Split(token, ".")
	now := time.Now()
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"userId": "0123456789abcdef01234567", "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"userId": "0123456789abcdef01234567", "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for _, s := range []string{"Bearer " + token, "Bearer " + hs512, "Bearer " + none, "bearer " + token + " ", "Basic " + token,
		"Bearer " + parts[0] + "." + parts[1] + ".", "Bearer ..", "Bearer " + strings.Repeat("a.", 10000), "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a := a0.with(t)
		req := httptest.NewRequest("GET", "/auth/status", nil)
		req.Header["Authorization"] = []string{header}
		r := a.serve(req)
		// 404: a genuine token whose user is not in this process's store (a
		// seed made by the fuzzing coordinator reaches a worker).
		checkAnswer(t, r, 200, 401, 404)
		if r.status != 401 {
			// Only a genuine token (give or take the scheme's case and
			// surrounding space) can pass: check its signature is ours.
			_, tok, _ := strings.Cut(header, " ")
			if _, err := jwt.Parse(strings.TrimSpace(tok), func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
				jwt.WithValidMethods([]string{"HS256"})); err != nil {
				t.Fatalf("accepted a token that does not verify: %q: %v", header, err)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("body is not JSON: %q", r.body)
		}
	})
}
