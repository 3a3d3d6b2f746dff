package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
)

// This file holds the grouped layout (see the package documentation):
// the keys of a grouped record, the scripts that keep a group's index in
// step with every write, and backend.OwnerIndex.

var _ backend.OwnerIndex = (*Store)(nil)

// Operation names of the index's methods, used in error messages.
const (
	opGroup       = "group"
	opDeleteGroup = "delete group"
)

// Suffixes of the grouped layout's keys, after the group's tag
// (prefix + "{" + group + "}"): a record, its history and the group's
// index. Each starts differently, so no two kinds of key can share a name.
const (
	groupRecordSep  = "."
	groupHistorySep = ":w."
	groupIndexName  = ":i"
)

// groupPreludeSrc starts every script that reads the server's clock (TIME)
// and writes. Before Redis 5.0 a script was replicated by running it
// again, and such a script may not write after reading the clock unless it
// asks for its effects to be replicated instead; from 7.0 that is the only
// way and the call does nothing (it may be gone from later servers, hence
// the test).
const groupPreludeSrc = `if redis.replicate_commands then redis.replicate_commands() end
`

// indexSrc defines, for the scripts that include it:
//
//   - now(): the server's time in whole milliseconds since the epoch;
//   - prune(idx, t): removes from the index idx the members whose score
//     (their record's expiry) is before t, so records that expired leave
//     their group's index at its next write or listing;
//   - index(idx, member, ttl): after a write that gave member's record a
//     time to live of ttl milliseconds, scores member with that expiry,
//     prunes idx, and makes idx live at least as long as the record.
//
// index reads the clock after the record's write, so a member's score is
// never before its record's expiry, and a pruned member's record has
// expired: the index never loses a live record. The index's time to live
// is only ever extended, and was last set no earlier than any record's,
// so it outlives every member; Redis deletes it with its last member.
const indexSrc = `local function now()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(idx, t)
	redis.call('ZREMRANGEBYSCORE', idx, '-inf', string.format('(%d', t))
end
local function index(idx, member, ttl)
	local t = now()
	redis.call('ZADD', idx, string.format('%d', t + tonumber(ttl)), member)
	prune(idx, t)
	if redis.call('PTTL', idx) < tonumber(ttl) then
		redis.call('PEXPIRE', idx, ttl)
	end
end
`

// groupCreateSrc is Create for a grouped key. KEYS: the record, its
// history and its group's index; ARGV: the value, the time to live in
// milliseconds and the member. It stores the record if no live one is
// there and indexes it in the same step, so that a DeleteGroup that comes
// after Create returned finds it. It returns 1 if it stored the record,
// or if the record there carries this create's version (an earlier
// attempt, whose reply was lost, stored it: go-redis is retrying), else 0.
const groupCreateSrc = groupPreludeSrc + inHistorySrc + indexSrc + `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	index(KEYS[3], ARGV[3], ARGV[2])
	return 1
end
local v = string.sub(ARGV[1], 1, 8)
if redis.call('GETRANGE', KEYS[1], 0, 7) == v or inHistory(v) then return 1 end
return 0`

// groupUpdateSrc is the update script (updateSrc) for a grouped key, with
// KEYS[3] the group's index and ARGV[5] the member: a write that is
// applied also indexes the record's new expiry. A repeat recognised in the
// history changes nothing, the index included.
const groupUpdateSrc = groupPreludeSrc + inHistorySrc + indexSrc + updateHeadSrc +
	"\tindex(KEYS[3], ARGV[5], ARGV[3])\n" + updateTailSrc

// groupTouchSrc is Touch for a grouped key. KEYS: the record and its
// group's index; ARGV: the time to live in milliseconds and the member. It
// returns 0 for a missing record, else 1 once the record's new expiry is
// indexed.
const groupTouchSrc = groupPreludeSrc + indexSrc + `if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
index(KEYS[2], ARGV[2], ARGV[1])
return 1`

// groupDelSrc is Delete for a grouped key. KEYS: the record, its history
// and its group's index; ARGV: the member. It deletes the record and its
// history, removes the member from the index and prunes it.
const groupDelSrc = groupPreludeSrc + indexSrc + `redis.call('UNLINK', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
prune(KEYS[3], now())
return 1`

// groupListSrc prunes the index KEYS[1] and returns its members: the
// first step of Group and DeleteGroup, which then name the members'
// records to the second step's script.
const groupListSrc = groupPreludeSrc + indexSrc + `prune(KEYS[1], now())
return redis.call('ZRANGE', KEYS[1], 0, -1)`

// groupReadSrc reads the records of a group. KEYS[1] is the index and
// KEYS[i+1] the record of the member ARGV[i]. It returns member, value and
// remaining time to live in milliseconds (-1: no expiry) of every record
// there, flat, and removes from the index the members whose record is
// gone. A value that is not a string (WRONGTYPE) is skipped, and left in
// the index: it is not a record, so it is not listed, just as Load reports
// it as corrupt rather than as a session; DeleteGroup still deletes it.
const groupReadSrc = `local out = {}
for i = 1, #ARGV do
	local v = redis.pcall('GET', KEYS[i + 1])
	if not v then
		redis.call('ZREM', KEYS[1], ARGV[i])
	elseif type(v) == 'string' then
		out[#out + 1] = ARGV[i]
		out[#out + 1] = v
		out[#out + 1] = redis.call('PTTL', KEYS[i + 1])
	end
end
return out`

// groupDeleteSrc deletes records of a group. KEYS[1] is the index, and
// KEYS[2i] and KEYS[2i+1] the record and history of the member ARGV[i].
// It deletes each record and its history, removes the member from the
// index, and returns the number of records it deleted (UNLINK counts only
// live keys; a value there that is not a record counts too).
const groupDeleteSrc = `local n = 0
for i = 1, #ARGV do
	n = n + redis.call('UNLINK', KEYS[2 * i])
	redis.call('UNLINK', KEYS[2 * i + 1])
	redis.call('ZREM', KEYS[1], ARGV[i])
end
return n`

// groupScripts are the scripts of the grouped layout.
type groupScripts struct {
	create, update, touch, del *redis.Script
	list, read, deleteAll      *redis.Script
}

func newGroupScripts() groupScripts {
	return groupScripts{
		create:    redis.NewScript(groupCreateSrc),
		update:    redis.NewScript(groupUpdateSrc),
		touch:     redis.NewScript(groupTouchSrc),
		del:       redis.NewScript(groupDelSrc),
		list:      redis.NewScript(groupListSrc),
		read:      redis.NewScript(groupReadSrc),
		deleteAll: redis.NewScript(groupDeleteSrc),
	}
}

// prefixCarriesGroupTag reports whether the keys of one group, which all
// start with prefix + "{" + group + "}", share a Cluster hash slot. Redis
// hashes the part between a key's first "{" and the first "}" after it,
// if that part is not empty, else the whole key. A group has no brace, so
// that part lies within prefix + "{" + group + "}", the same for every
// key of the group, unless it is empty: when the prefix's first "{" is
// followed at once by "}".
func prefixCarriesGroupTag(prefix string) bool {
	i := strings.IndexByte(prefix, '{')
	return i < 0 || !strings.HasPrefix(prefix[i+1:], "}")
}

// split returns the member (the part before the separator) and the group
// of key if key is stored in the grouped layout: if it has a group, the
// prefix allows the layout (see prefixCarriesGroupTag), and key has no
// brace, which would make the names of its keys ambiguous. ok is false
// for a key in the plain layout.
func (s *Store) split(key string) (member, group string, ok bool) {
	group = backend.KeyGroup(key)
	if group == "" || !s.grouping || strings.ContainsAny(key, "{}") {
		return "", "", false
	}
	return key[:len(key)-len(group)-len(backend.GroupSeparator)], group, true
}

// groupTag returns the common start of the keys of group, whose hash tag
// puts them all in one Cluster slot.
func (s *Store) groupTag(group string) string { return s.prefix + "{" + group + "}" }

// recordKey returns the Redis key of the record under key.
func (s *Store) recordKey(key string) string {
	if member, group, ok := s.split(key); ok {
		return s.groupTag(group) + groupRecordSep + member
	}
	return s.prefix + key
}

// groupKeys returns the keys a write of the grouped record member of
// group touches: the record, its history and the group's index.
func (s *Store) groupKeys(member, group string) []string {
	tag := s.groupTag(group)
	return []string{tag + groupRecordSep + member, tag + groupHistorySep + member, tag + groupIndexName}
}

// createGrouped is Create's round trip for a grouped key, val the new
// value and ms its time to live.
func (s *Store) createGrouped(ctx context.Context, member, group string, val []byte, ms int64) (bool, error) {
	return s.groups.create.Run(ctx, s.client, s.groupKeys(member, group), val, ms, member).Bool()
}

// checkGroup validates Group's and DeleteGroup's arguments.
func (s *Store) checkGroup(ctx context.Context, op, group string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	switch {
	case group == "":
		return fmt.Errorf("redisstore: %s: empty group", op)
	case strings.ContainsAny(group, "{}"):
		// Keys of such a group are stored in the plain layout and
		// indexed nowhere.
		return fmt.Errorf("redisstore: %s: group %q has a brace: its keys are not indexed", op, group)
	case !s.grouping:
		return fmt.Errorf("redisstore: %s: the prefix %q has an empty hash tag (\"{}\"), which cannot keep a group's keys in one Cluster slot: grouped keys are not indexed", op, s.prefix)
	}
	return nil
}

// members returns the members of group's index, after pruning those whose
// records expired. It is the first round trip of Group and DeleteGroup:
// scripts may touch only the keys they are given, so the records must be
// named before a script can reach them.
func (s *Store) members(ctx context.Context, index string) ([]string, error) {
	return s.groups.list.Run(ctx, s.client, []string{index}).StringSlice()
}

// Group returns the live records whose key is in group, in two round
// trips: a script that prunes the group's index and returns its members,
// then one that reads their records (GET and PTTL each) and drops from
// the index the members whose record is gone. Every record live for the
// whole call is listed; one created or deleted during it may or may not
// be. A value under a member's key that is not a record (too short, or
// not a string) is skipped, as Load would report it as corrupt.
func (s *Store) Group(ctx context.Context, group string) ([]backend.KeyedRecord, error) {
	if err := s.checkGroup(ctx, opGroup, group); err != nil {
		return nil, err
	}
	tag := s.groupTag(group)
	var res []any
	err := s.bounded(ctx, opGroup, func(ctx context.Context) error {
		members, err := s.members(ctx, tag+groupIndexName)
		if err != nil || len(members) == 0 {
			return err
		}
		keys := make([]string, 1, 1+len(members))
		keys[0] = tag + groupIndexName
		args := make([]any, len(members))
		for i, m := range members {
			keys = append(keys, tag+groupRecordSep+m)
			args[i] = m
		}
		res, err = s.groups.read.Run(ctx, s.client, keys, args...).Slice()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]backend.KeyedRecord, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		member, ok1 := res[i].(string)
		val, ok2 := res[i+1].(string)
		pttl, ok3 := res[i+2].(int64)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("redisstore: %s: unexpected script reply (%T, %T, %T)", opGroup, res[i], res[i+1], res[i+2])
		}
		rec, err := record(val, time.Duration(pttl)*time.Millisecond)
		if err != nil {
			continue // not a record: skipped, see above
		}
		out = append(out, backend.KeyedRecord{Key: member + backend.GroupSeparator + group, Record: rec})
	}
	return out, nil
}

// DeleteGroup deletes every record whose key is in group except the one
// under keep, with their history keys, and returns how many live records
// it deleted, in two round trips: a script that prunes the group's index
// and returns its members, then one that deletes the members' records and
// histories and removes them from the index, atomically. A record whose
// Create returned before the call is in the index by then (Create indexes
// it in the same script that stores it), so the second script deletes it,
// and Update and Touch never bring a deleted record back. A record created
// during the call may survive it, and stays indexed.
//
// If go-redis repeats the second script after a lost reply, the repeat
// finds nothing left to delete and the count it reports is too low.
func (s *Store) DeleteGroup(ctx context.Context, group, keep string) (int, error) {
	if err := s.checkGroup(ctx, opDeleteGroup, group); err != nil {
		return 0, err
	}
	keepMember := ""
	if m, g, ok := s.split(keep); ok && g == group {
		keepMember = m
	}
	tag := s.groupTag(group)
	var n int64
	err := s.bounded(ctx, opDeleteGroup, func(ctx context.Context) error {
		members, err := s.members(ctx, tag+groupIndexName)
		if err != nil {
			return err
		}
		keys := make([]string, 1, 1+2*len(members))
		keys[0] = tag + groupIndexName
		args := make([]any, 0, len(members))
		for _, m := range members {
			if m == keepMember && keepMember != "" {
				continue
			}
			keys = append(keys, tag+groupRecordSep+m, tag+groupHistorySep+m)
			args = append(args, m)
		}
		if len(args) == 0 {
			return nil
		}
		n, err = s.groups.deleteAll.Run(ctx, s.client, keys, args...).Int64()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
