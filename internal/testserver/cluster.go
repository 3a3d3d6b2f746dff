package testserver

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts an n-node Redis Cluster without replicas on loopback
// ports, waits until every node reports cluster_state:ok, and returns a
// client of it and the nodes. Everything is stopped at cleanup.
func StartCluster(t testing.TB, n int) (*redis.ClusterClient, []*Redis) {
	t.Helper()
	server, cli := RedisBinaries(t)
	dir := t.TempDir()
	var nodes []*Redis
	var addrs []string
	for _, port := range FreePorts(t, n) {
		conf := fmt.Sprintf("%s/nodes-%d.conf", dir, port)
		p := StartRedis(t, server, dir, port,
			"--cluster-enabled", "yes",
			"--cluster-config-file", conf,
			"--cluster-node-timeout", "5000")
		nodes = append(nodes, p)
		addrs = append(addrs, p.Addr())
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// The nodes agree on the slots a few seconds after create returns.
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range nodes {
		nc := redis.NewClient(&redis.Options{Addr: p.Addr()})
		for {
			info, err := nc.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_slots_ok:16384") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				break
			}
			if time.Now().After(deadline) {
				_ = nc.Close()
				t.Fatalf("node %s: no cluster_state:ok within 30s (%v):\n%s\nlog:\n%s", p.Addr(), err, info, p.LogTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = nc.Close()
	}

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.ForEachShard(ctx, func(ctx context.Context, sc *redis.Client) error {
		return sc.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("cluster client: %v", err)
	}
	return c, nodes
}
