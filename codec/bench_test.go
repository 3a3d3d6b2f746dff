package codec

import "testing"

func BenchmarkMarshal(b *testing.B) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		b.Run(c.Name(), func(b *testing.B) {
			v := benchSession()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		b.Run(c.Name(), func(b *testing.B) {
			data := mustMarshal(b, c, benchSession())
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var v sessionValue
				if err := c.Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
