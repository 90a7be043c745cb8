package fwtest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

// WriteText writes the report as go test does: a line per failing case
// (verbose: per case), and for each failure what was expected, what
// happened and the trace of the failing packet; then ok or FAIL for the
// file.
func (r *Report) WriteText(w io.Writer, verbose bool) {
	for _, c := range r.Cases {
		if c.Pass {
			if verbose {
				fmt.Fprintf(w, "--- PASS: %s (%s:%d)\n", c.Name, r.File, c.Line)
			}
			continue
		}
		fmt.Fprintf(w, "--- FAIL: %s (%s:%d)\n", c.Name, r.File, c.Line)
		io.WriteString(w, indent(r.failureText(c), "    "))
	}
	if n := r.Failed(); n > 0 {
		fmt.Fprintf(w, "FAIL\t%s\t%d of %d cases failed (backend %s)\n", r.File, n, len(r.Cases), r.Backend)
	} else {
		cases := "cases"
		if len(r.Cases) == 1 {
			cases = "case" // a recorded spec has one
		}
		fmt.Fprintf(w, "ok  \t%s\t%d %s (backend %s)\n", r.File, len(r.Cases), cases, r.Backend)
	}
}

// failureText is what a failed case reports, in the text output, the
// JUnit failure and a Go subtest alike: each expectation that did not
// hold with its line, what was wanted and what happened (for a property,
// every packet that breaks it), then the full trace of the failing
// packet.
func (r *Report) failureText(c *CaseResult) string {
	var b strings.Builder
	for _, f := range c.Failures {
		fmt.Fprintf(&b, "%s:%d: packet %s\n", r.File, f.Line, f.Packet)
		fmt.Fprintf(&b, "    want %s\n", f.Want)
		fmt.Fprintf(&b, "    got  %s\n", f.Got)
		if len(f.Classes) > 0 {
			b.WriteString("    every packet that breaks it:\n")
			for _, k := range f.Classes {
				fmt.Fprintf(&b, "        %s\n", k)
			}
		}
	}
	if c.Trace != "" {
		b.WriteString("trace of the failing packet:\n")
		b.WriteString(indent(c.Trace, "    "))
	}
	return b.String()
}

// indent puts prefix before every line of s that is not empty.
func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) != "" {
			b.WriteString(prefix)
			b.WriteString(l)
		} else if l != "" {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the reports as JUnit XML, a test suite per spec.
func WriteJUnit(w io.Writer, reps []*Report) error {
	var out junitSuites
	for _, r := range reps {
		s := junitSuite{Name: r.File, Tests: len(r.Cases), Failures: r.Failed(), Time: fmt.Sprintf("%.3f", r.Elapsed.Seconds())}
		for _, c := range r.Cases {
			jc := junitCase{Name: c.Name, Classname: r.File, Time: fmt.Sprintf("%.3f", c.Elapsed.Seconds())}
			if !c.Pass {
				jc.Failure = &junitFailure{Message: c.Failures[0].Want, Text: r.failureText(c)}
			}
			s.Cases = append(s.Cases, jc)
		}
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Check runs the spec at path from a Go test: each case is a subtest,
// failing with the expectation, what happened and the trace.
func Check(t *testing.T, path string) {
	t.Helper()
	s, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Pass {
				t.Errorf("\n%s", rep.failureText(c))
			}
		})
	}
}
