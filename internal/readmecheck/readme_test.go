package readmecheck_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSnippetsCompile checks that every Go snippet of the README
// appears verbatim in a file the build compiles: snippets_test.go here
// (indented by one tab inside a function, or as it is for top-level
// declarations), the quickstart program, or the otel module's
// readme_test.go. A snippet edited in the README alone fails here.
func TestReadmeSnippetsCompile(t *testing.T) {
	readme := read(t, "../../README.md")
	homes := map[string]string{
		"snippets_test.go":                  read(t, "snippets_test.go"),
		"../../examples/quickstart/main.go": read(t, "../../examples/quickstart/main.go"),
		"../../otel/readme_test.go":         read(t, "../../otel/readme_test.go"),
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(readme, -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d Go blocks in the README", len(blocks))
	}
	for _, b := range blocks {
		snippet := b[1]
		indented := "\t" + strings.ReplaceAll(strings.TrimSuffix(snippet, "\n"), "\n", "\n\t") + "\n"
		indented = strings.ReplaceAll(indented, "\n\t\n", "\n\n")
		found := false
		for _, src := range homes {
			if strings.Contains(src, snippet) || strings.Contains(src, indented) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("this README snippet is in no compiled file; copy it into internal/readmecheck/snippets_test.go:\n%s", snippet)
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
