package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/casebridge/casebridge/config"
)

// demoConfig returns the demo council's configuration with fresh secrets in
// place of its placeholders, and those secrets.
func demoConfig() (yaml []byte, open311Key, staffToken string) {
	key, token := secret(24), secret(24)
	demo := config.DemoYAML()
	demo = bytes.Replace(demo, []byte("CHANGE-ME-open311-api-key-0000"), []byte(key), 1)
	demo = bytes.Replace(demo, []byte(config.HashToken("change-me")), []byte(config.HashToken(token)), 1)
	demo = bytes.Replace(demo, []byte(`# placeholder: sha256 of "change-me"; dev replaces it and prints the token`),
		[]byte("# generated; the token itself is not kept here"), 1)
	return demo, key, token
}

// runDemoConfig prints a demo configuration with fresh secrets, to start a
// production configuration from; the secrets go to stderr, once.
func runDemoConfig(_ context.Context, _ []string, _ func(string) string, stdout, stderr io.Writer) error {
	demo, key, token := demoConfig()
	// The demo wards are invented: a council points this at its own file.
	demo = bytes.Replace(demo, []byte("\nareas: areas.geojson\n"), []byte("\nareas: \"\"  # path to your wards GeoJSON, e.g. /etc/casebridge/wards.geojson\n"), 1)
	if _, err := stdout.Write(demo); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "staff token (role admin): %s\nOpen311 api_key:          %s\nKeep them safe: only the token's SHA-256 is in the file.\n", token, key)
	return nil
}

// runProbe GETs a URL and fails unless it answers 2xx: a health check for
// images that have no curl.
func runProbe(ctx context.Context, args []string, _ func(string) string, _, _ io.Writer) error {
	if len(args) != 1 {
		return usageError{"usage: casebridge probe URL"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return usageError{err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	return nil
}

func secret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
