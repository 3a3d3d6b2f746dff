package httpheader

import (
	"net/http"
	"slices"
	"testing"
)

func TestAddVary(t *testing.T) {
	for _, tc := range []struct {
		before []string
		field  string
		want   []string
	}{
		{nil, "Cookie", []string{"Cookie"}},
		{[]string{"Accept"}, "Cookie", []string{"Accept", "Cookie"}},
		{[]string{"Accept, cookie"}, "Cookie", []string{"Accept, cookie"}},
		{[]string{"Origin", " Cookie "}, "Cookie", []string{"Origin", " Cookie "}},
		{[]string{"*"}, "Cookie", []string{"*"}},
	} {
		h := http.Header{}
		for _, v := range tc.before {
			h.Add("Vary", v)
		}
		AddVary(h, tc.field)
		if got := h.Values("Vary"); !slices.Equal(got, tc.want) {
			t.Errorf("AddVary(%q, %q): Vary %q, want %q", tc.before, tc.field, got, tc.want)
		}
	}
}
