package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDiffPageInBrowser: ipsift diff --html's page in headless
// Chromium, on gateway.rules against a change of it whose LOG prefix
// is a script: every region the text lists is a section, a region's
// link in the table focuses it and sets the anchor, the page requests
// nothing but itself and runs nothing from the rulesets, nothing
// scrolls sideways at 390 px; a screenshot goes where IPSIFT_ARTIFACTS
// says.
func TestDiffPageInBrowser(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	artifacts := os.Getenv("IPSIFT_ARTIFACTS")
	if artifacts == "" {
		artifacts = dir
	}
	orig, err := os.ReadFile("../../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(orig), "--dport 22 --tcp-flags", "--dport 2022 --tcp-flags", 1)
	changed = strings.Replace(changed, `--log-prefix "LOGDROP: "`, `--log-prefix "<script>alert(1)</script>"`, 1)
	newFile := filepath.Join(dir, "gateway-new.rules")
	if err := os.WriteFile(newFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "diff.html")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"ipsift", "diff", "../../examples/gateway.rules", newFile, "--html", page}, &stdout, &stderr); code != exitProblems {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	regions := strings.Count(stdout.String(), "\n   witness: ")

	b := newBrowser(t, exe)
	b.open(page)
	if n := eval[int](b, `document.querySelectorAll('section.region').length`); n != regions || n == 0 {
		t.Errorf("%d region sections, the text has %d", n, regions)
	}
	if n := eval[int](b, `document.querySelectorAll('table.regions tbody tr').length`); n != regions {
		t.Errorf("%d rows in the regions' table, want %d", n, regions)
	}
	b.do(chromedp.Click(`table.regions a[href="#IPv4/region/2"]`, chromedp.NodeVisible))
	if !eventually(b, `location.hash === "#IPv4/region/2" && document.getElementById('IPv4/region/2').classList.contains('focus')`) {
		t.Errorf("after the click the anchor is %q", eval[string](b, `location.hash`))
	}
	if !eval[bool](b, `document.body.textContent.includes('<script>alert(1)</script>')`) {
		t.Error("the LOG prefix is not shown as text")
	}
	if len(b.dialogs) > 0 {
		t.Errorf("the page opened dialogs: %q", b.dialogs)
	}
	b.noRequests(page)
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px: page is %d px wide", w)
	}
	b.do(chromedp.EmulateViewport(1000, 1100))
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate("file://"+page))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts, "diff-gateway.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}
