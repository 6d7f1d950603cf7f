package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPartnerLocksAreTheServers: a partner's check-then-write lock belongs
// to one sandbox, so a request to another sandbox never waits for it
// (tests and the bench run several at once).
func TestPartnerLocksAreTheServers(t *testing.T) {
	tests := []struct {
		name string
		lock func(s *Server) *sync.Mutex
		// send makes a request that takes the lock on s.
		send func(s *Server)
	}{
		{"hubspot", func(s *Server) *sync.Mutex { return &s.hubspotMu }, func(s *Server) {
			serve(s, http.MethodPost, "/hubspot/crm/v3/objects/contacts", "Bearer "+DevCredentials["HUBSPOT_TOKEN"], `{"properties":{"email":"ada@example.com"}}`)
		}},
		{"erpnext", func(s *Server) *sync.Mutex { return &s.erpnextMu }, func(s *Server) {
			serve(s, http.MethodPost, "/erpnext/api/resource/Customer", DevCredentials["ERPNEXT_TOKEN"], `{"customer_name":"Ada"}`)
		}},
		{"stripe", func(s *Server) *sync.Mutex { return &s.stripeMu }, func(s *Server) {
			serve(s, http.MethodPost, "/stripe/v1/customers", "Bearer "+DevCredentials["STRIPE_API_KEY"], "email=ada%40example.com")
		}},
		{"easypost", func(s *Server) *sync.Mutex { return &s.easypostMu }, func(s *Server) {
			serve(s, http.MethodPost, "/easypost/v2/shipments/shp_none/buy", "Bearer "+DevCredentials["EASYPOST_API_KEY"], `{"rate":{"id":"rate_none"}}`)
		}},
		{"smtp", func(s *Server) *sync.Mutex { return &s.smtpMu }, func(s *Server) {
			s.smtpStore("shop@example.com", []string{"ada@example.com"}, "", []byte("Subject: hi\r\n\r\nhello\r\n"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, other := New(Options{}), New(Options{})
			mu := tt.lock(held)
			mu.Lock()
			defer mu.Unlock()
			send := func(s *Server) <-chan struct{} {
				done := make(chan struct{})
				go func() {
					defer close(done)
					tt.send(s)
				}()
				return done
			}
			select {
			case <-send(other):
			case <-time.After(10 * time.Second):
				t.Fatalf("a %s request to one sandbox waited for another sandbox's lock", tt.name)
			}
			// The request did take the lock: on the sandbox that holds
			// it, the same request waits.
			waited := send(held)
			select {
			case <-waited:
				t.Fatalf("a %s request did not wait for its own sandbox's lock", tt.name)
			case <-time.After(50 * time.Millisecond):
			}
			mu.Unlock()
			<-waited
			mu.Lock()
		})
	}
}

// serve answers one request with s's handler, in process.
func serve(s *Server, method, path, auth, body string) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	ct := "application/json"
	if strings.HasPrefix(path, "/stripe/") {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
}
