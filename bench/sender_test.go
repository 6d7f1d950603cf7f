package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestSenderPostsAndReusesConnections(t *testing.T) {
	type got struct{ remote, method, path, sig, body string }
	var mu sync.Mutex
	var seen []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, got{r.RemoteAddr, r.Method, r.URL.Path, r.Header.Get("Webhook-Signature"), string(b)})
		mu.Unlock()
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"accepted"}`)
	}))
	defer srv.Close()
	s, err := newSender(srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()

	for _, path := range []string{"/a", "/b", "/close", "/c"} {
		status, err := s.post(context.Background(), path, http.Header{"Webhook-Signature": {"v1,sig" + path}}, []byte("body"+path))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("post %s = %d, %v; want 202", path, status, err)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("server saw %d requests, want 4", len(seen))
	}
	for i, path := range []string{"/a", "/b", "/close", "/c"} {
		if g := seen[i]; g.method != http.MethodPost || g.path != path || g.sig != "v1,sig"+path || g.body != "body"+path {
			t.Errorf("request %d = %+v, want POST %s with its signature and body", i, g, path)
		}
	}
	// One kept-alive connection until the server closes it, then a new one.
	if seen[0].remote != seen[1].remote || seen[1].remote != seen[2].remote {
		t.Errorf("requests came from %s, %s, %s: want one kept-alive connection", seen[0].remote, seen[1].remote, seen[2].remote)
	}
	if seen[3].remote == seen[2].remote {
		t.Errorf("the request after Connection: close reused %s", seen[3].remote)
	}
}

func TestSenderStopsWhenTheContextEnds(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s, err := newSender(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := s.post(ctx, "/slow", http.Header{}, []byte("x"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("post returned no error after its context was cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("post still waits 10s after its context was cancelled")
	}
	// The connection was abandoned, not kept for the next request.
	if n := len(s.idle); n != 0 {
		t.Errorf("%d idle connections after a failed request, want 0", n)
	}
}

func TestNewSenderRefusesOtherAddresses(t *testing.T) {
	for _, base := range []string{"https://127.0.0.1:1", "127.0.0.1:8080", "http://", "://x"} {
		if _, err := newSender(base, 1); err == nil {
			t.Errorf("newSender(%q) accepted it", base)
		}
	}
	s, _ := newSender("http://127.0.0.1:1", 1) // nothing listens on port 1
	if _, err := s.post(context.Background(), "/", http.Header{}, nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("post to a closed port = %v, want a connection error", err)
	}
}
