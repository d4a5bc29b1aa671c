// Command gothrp is a relying party built on goth's openidConnect provider,
// the library Gitea uses for "OpenID Connect" OAuth2 sources, driven the way
// Gitea drives it: the auto-discovery URL, scopes "openid email profile
// groups", no nonce and no PKCE (goth's BeginAuth sends neither), the code
// exchanged by golang.org/x/oauth2 with AuthStyleAutoDetect (client_secret_basic
// first, client_secret_post with the same code when basic fails), userinfo
// merged over the id_token claims by FetchUser, and the group claim mapped to
// admin / restricted as Gitea's oauth2 source does.
//
// It is a small web app on a loopback address:
//
//	GET /user/oauth2/madang           starts a sign-in (307 to the provider)
//	GET /user/oauth2/madang/callback  finishes it and answers a JSON report
//	GET /refresh?token=...            goth's Provider.RefreshToken (Gitea's token refresh)
//
// Built in GOPATH mode against Debian's packages:
//
//	GO111MODULE=off GOPATH=<dir>:/usr/share/gocode go build -o gothrp ./conformance-tests/goth
//
// With -tamper-basic the first token request that carries HTTP Basic client
// credentials gets a wrong password put in, so the server must refuse it with
// 401 and oauth2's auto-detection must retry with client_secret_post and the
// SAME code: that only works when the server authenticates the client before
// it consumes the code (issue 5; Gitea hits this with any provider where basic
// fails). Every HTTP request the program makes is recorded in the report.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/openidConnect"
)

// exchange is one HTTP request the relying party made and its outcome.
type exchange struct {
	Method     string `json:"method"`
	URL        string `json:"url"`
	ClientAuth string `json:"client_auth"` // "basic", "post", "bearer" or "none"
	Tampered   bool   `json:"tampered"`
	Status     int    `json:"status"`
	WWWAuth    string `json:"www_authenticate,omitempty"`
	Error      string `json:"error,omitempty"`
}

// recorder is the process-wide HTTP transport: goth 1.42 exchanges the code
// with oauth2.NoContext, i.e. http.DefaultClient, so the hook has to live there.
type recorder struct {
	mu          sync.Mutex
	log         []exchange
	tamperBasic bool
	tampered    bool
	tokenURL    string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{Method: req.Method, URL: req.URL.String(), ClientAuth: "none"}
	auth := req.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "Basic "):
		ex.ClientAuth = "basic"
	case strings.HasPrefix(auth, "Bearer "):
		ex.ClientAuth = "bearer"
	case req.Method == http.MethodPost && req.Body != nil && req.URL.String() == r.tokenURL:
		ex.ClientAuth = "post" // oauth2 put client_id/client_secret in the form
	}
	r.mu.Lock()
	if r.tamperBasic && !r.tampered && ex.ClientAuth == "basic" && req.URL.String() == r.tokenURL {
		// Keep the client id, break the secret: the server must answer 401
		// invalid_client without touching the code.
		if user, _, ok := req.BasicAuth(); ok {
			req = req.Clone(req.Context())
			req.SetBasicAuth(user, "wrong-"+randomHex(8))
			r.tampered = true
			ex.Tampered = true
		}
	}
	r.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		ex.Error = err.Error()
	} else {
		ex.Status = resp.StatusCode
		ex.WWWAuth = resp.Header.Get("WWW-Authenticate")
	}
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// claimSet reads a group claim the way Gitea's oauth2 source does: a JSON
// array of strings, or a single string.
func claimSet(v interface{}) []string {
	switch t := v.(type) {
	case []interface{}:
		out := []string{}
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{t}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// decodePayload is for the report only (goth does its own decoding).
func decodePayload(jwt string) map[string]interface{} {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	out := map[string]interface{}{}
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	discovery := flag.String("discovery", "", "OpenID Connect auto-discovery URL")
	clientID := flag.String("client-id", "", "client id")
	secret := flag.String("client-secret", "", "client secret")
	callback := flag.String("callback", "", "redirect URI registered at the provider")
	scopes := flag.String("scopes", "openid email profile groups", "scopes, space-separated (Gitea's)")
	groupClaim := flag.String("group-claim", "groups", "claim that carries the groups")
	adminGroup := flag.String("admin-group", "admins", "members become admins")
	restrictedGroup := flag.String("restricted-group", "restricted", "members become restricted")
	tamperBasic := flag.Bool("tamper-basic", false, "break the first client_secret_basic attempt")
	flag.Parse()
	if *discovery == "" || *clientID == "" || *callback == "" {
		log.Fatal("-discovery, -client-id and -callback are required")
	}

	rec := &recorder{tamperBasic: *tamperBasic}
	http.DefaultClient.Transport = rec
	http.DefaultClient.Timeout = 15 * time.Second
	// Never follow redirects from the provider's API endpoints.
	http.DefaultClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	provider, err := openidConnect.New(*clientID, *secret, *callback, *discovery, strings.Fields(*scopes)...)
	if err != nil {
		log.Fatalf("openidConnect.New: %v", err)
	}
	provider.SetName("madang")
	goth.UseProviders(provider)
	// The token URL comes from discovery; read it back from the first auth URL's sibling.
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if resp, err := http.Get(*discovery); err == nil {
		_ = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
	}
	rec.tokenURL = meta.TokenEndpoint
	discoveryLog := rec.take()

	var mu sync.Mutex
	sessions := map[string]goth.Session{}

	mux := http.NewServeMux()
	mux.HandleFunc("/user/oauth2/madang", func(w http.ResponseWriter, r *http.Request) {
		state := randomHex(16)
		sess, err := provider.BeginAuth(state)
		if err != nil {
			writeJSON(w, 500, map[string]string{"error": "BeginAuth: " + err.Error()})
			return
		}
		url, err := sess.GetAuthURL()
		if err != nil {
			writeJSON(w, 500, map[string]string{"error": "GetAuthURL: " + err.Error()})
			return
		}
		mu.Lock()
		sessions[state] = sess
		mu.Unlock()
		http.Redirect(w, r, url, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/user/oauth2/madang/callback", func(w http.ResponseWriter, r *http.Request) {
		report := map[string]interface{}{"callback_query": r.URL.Query()}
		defer func() {
			if p := recover(); p != nil {
				report["error"] = fmt.Sprintf("panic in goth: %v", p)
				report["http"] = rec.take()
				writeJSON(w, 500, report)
			}
		}()
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			report["error"] = "provider returned error=" + e + " " + q.Get("error_description")
			writeJSON(w, 400, report)
			return
		}
		state := q.Get("state")
		mu.Lock()
		sess, ok := sessions[state]
		delete(sessions, state)
		mu.Unlock()
		if !ok {
			report["error"] = "unknown or missing state " + state
			writeJSON(w, 400, report)
			return
		}
		// Gitea (gothic.CompleteUserAuth): Authorize with the callback's query, then FetchUser.
		if _, err := sess.Authorize(provider, q); err != nil {
			report["error"] = "Authorize (token exchange): " + err.Error()
			report["http"] = rec.take()
			writeJSON(w, 502, report)
			return
		}
		user, err := provider.FetchUser(sess)
		if err != nil {
			report["error"] = "FetchUser: " + err.Error()
			report["http"] = rec.take()
			writeJSON(w, 502, report)
			return
		}
		groups := claimSet(user.RawData[*groupClaim])
		osess := sess.(*openidConnect.Session)
		report["user"] = map[string]interface{}{
			"UserID":       user.UserID,
			"NickName":     user.NickName,
			"Name":         user.Name,
			"Email":        user.Email,
			"Provider":     user.Provider,
			"ExpiresAt":    user.ExpiresAt,
			"HasRefresh":   user.RefreshToken != "",
			"RawData":      user.RawData,
			"Groups":       groups,
			"IsAdmin":      contains(groups, *adminGroup),
			"IsRestricted": contains(groups, *restrictedGroup),
		}
		report["id_token_claims"] = decodePayload(osess.IDToken)
		report["auth_url"] = osess.AuthURL
		report["access_token"] = user.AccessToken
		report["refresh_token"] = user.RefreshToken
		report["http"] = rec.take()
		writeJSON(w, 200, report)
	})
	mux.HandleFunc("/refresh", func(w http.ResponseWriter, r *http.Request) {
		tok, err := provider.RefreshToken(r.URL.Query().Get("token"))
		report := map[string]interface{}{}
		if err != nil {
			report["error"] = err.Error()
			report["http"] = rec.take()
			writeJSON(w, 502, report)
			return
		}
		report["access_token"] = tok.AccessToken
		report["refresh_token"] = tok.RefreshToken
		report["expiry"] = tok.Expiry
		report["http"] = rec.take()
		writeJSON(w, 200, report)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	out, _ := json.Marshal(map[string]interface{}{"listening": "http://" + ln.Addr().String() + "/", "discovery": discoveryLog, "token_endpoint": rec.tokenURL})
	fmt.Println(string(out))
	os.Stdout.Sync()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
