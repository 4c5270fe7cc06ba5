/// The Lua scripts that make each broker operation one atomic step in Redis.
///
/// Layout under the prefix `P` (`engine.redis.prefix`), for channel `C`:
/// - `P:m:C` hash: `e` the epoch, `o` the latest offset, `t` when it last changed. Kept while the
///   channel has retained state; otherwise the stream is forgotten (a new epoch on its next use)
///   once it holds nothing at `now` and no node holds a lease on it, as in the other engines, and
///   its keys expire after an hour unused (a following node refreshes them).
/// - `P:u:C` hash: node → until when it uses the channel (a lease of 30 s, renewed every 10 s
///   while the node follows it, dropped when it stops).
/// - `P:s:C` stream: one entry per publication, id `<offset>-0` (ids *are* offsets), fields `d`
///   (data JSON), `t` (time), `k` (state key), `r` (`1`: the key was removed). Trimmed with
///   `XADD … MAXLEN ~ N`; it is both history and what other nodes tail.
/// - `P:k:C` hash: retained state, key → `<version>:<value JSON>`.
/// - `P:bans` hash: user → ban JSON; `P:bans:until` sorted set: user → when the ban ends.
/// - `P:i:K` string: an idempotency record (body, receipts, expiry), expiring with it; `P:i`
///   sorted set: keys by expiry (the oldest go first past the key limit).
/// - `P:control` stream: commands from one node to the others (bans, disconnects), and presence
///   changes for every node (layout of presence: ``RedisScripts`` in `RedisScripts+Presence.swift`).
enum RedisScripts {
    /// Shared by the scripts: the helpers that keep a channel's keys alive or let them expire.
    private static let helpers = """
    local P = ARGV[1]
    local function idle_ms(ttl) return math.ceil(math.max(ttl, 3600) * 1000) end
    local function keys_of(ch) return P .. ':m:' .. ch, P .. ':s:' .. ch, P .. ':k:' .. ch end
    local function new_epoch(m, s, k, epoch, now)
      redis.call('DEL', m, s, k)
      redis.call('HSET', m, 'e', epoch, 'o', 0, 't', now)
    end
    -- A stream holds nothing at `now` (no retained state, no history younger than its TTL) and no
    -- node used it lately: it is forgotten, and its next use starts a new epoch.
    local function alive(ch, m, k, now, hsize, httl)
      if redis.call('EXISTS', k) == 1 then return true end
      for _, lease in ipairs(redis.call('HVALS', P .. ':u:' .. ch)) do
        if tonumber(lease) > now then return true end
      end
      local last = tonumber(redis.call('HGET', m, 't') or '0')
      return hsize > 0 and now - last <= httl
    end
    -- Node `node` uses the channel for the next 30 s (it renews every 10 s while it follows it).
    local function lease(ch, node, now)
      local u = P .. ':u:' .. ch
      redis.call('HSET', u, node, now + 30)
      redis.call('PEXPIRE', u, 3600000)
    end
    local function current_epoch(ch, m, k, now, hsize, httl)
      local epoch = redis.call('HGET', m, 'e')
      if epoch and not alive(ch, m, k, now, hsize, httl) then return false end
      return epoch
    end
    local function touch(m, s, k, ttl)
      redis.call('PEXPIRE', s, ttl)
      if redis.call('EXISTS', k) == 1 then redis.call('PERSIST', m) else redis.call('PEXPIRE', m, ttl) end
    end
    """

    /// Sequences publications (mode `p`) or lifts the expired bans (mode `l`).
    ///
    /// ARGV: prefix, now, mode, stream length cap, idempotency key (`""`: none), its body, its
    /// expiry, its key limit; mode `p`: the request count, then 13 fields per request; mode `l`:
    /// the ban channel's request template (13 fields; key, user and after are filled per user).
    /// A request's fields: channel, history size, history TTL, retains state (`1`/`0`), data,
    /// change (`set`/`remove`/`""`), state key, deny-list change (`ban`/`lift`/`""`), user, ban
    /// JSON, ban end (`""`: none), after (the offset this node delivered, `-1`: not followed),
    /// a new epoch (used if the stream has none).
    ///
    /// Returns `{"dup", record}` when the idempotency key is already stored (by another node),
    /// else `{mode, users, results…}` with each result `{epoch, offset, key or false, gap}`, where
    /// `gap` holds the entries between `after` and this offset (for the caller's deliveries).
    static let write = helpers + "\n" + """
    local now = tonumber(ARGV[2])
    local mode = ARGV[3]
    local cap = tonumber(ARGV[4])
    local ikey = ARGV[5]
    if ikey ~= '' then
      local existing = redis.call('GET', P .. ':i:' .. ikey)
      if existing and cjson.decode(existing).x > now then return {'dup', existing} end
    end
    local function one(a)
      local ch, hsize, httl, retain, data = a[1], tonumber(a[2]), tonumber(a[3]), a[4], a[5]
      local ckind, ckey, dkind, duser, dban, duntil = a[6], a[7], a[8], a[9], a[10], a[11]
      local after, cand = tonumber(a[12]), a[13]
      local m, s, k = keys_of(ch)
      local epoch = current_epoch(ch, m, k, now, hsize, httl)
      if not epoch then
        epoch = cand
        new_epoch(m, s, k, epoch, now)
      end
      local off = redis.call('HINCRBY', m, 'o', 1)
      redis.call('HSET', m, 't', now)
      local gap = {}
      if after >= 0 and after < off - 1 then
        gap = redis.call('XRANGE', s, (after + 1) .. '-0', (off - 1) .. '-0')
      end
      local fields = {'d', data, 't', ARGV[2]}
      local key = false
      if retain == '1' and ckind ~= '' then
        key = ckey
        fields[#fields + 1] = 'k'
        fields[#fields + 1] = ckey
        if ckind == 'set' then
          redis.call('HSET', k, ckey, off .. ':' .. data)
        else
          fields[2] = 'null'
          fields[#fields + 1] = 'r'
          fields[#fields + 1] = '1'
          redis.call('HDEL', k, ckey)
        end
      end
      redis.call('XADD', s, 'MAXLEN', '~', math.max(hsize, cap), off .. '-0', unpack(fields))
      touch(m, s, k, idle_ms(httl))
      if dkind == 'ban' then
        redis.call('HSET', P .. ':bans', duser, dban)
        if duntil ~= '' then redis.call('ZADD', P .. ':bans:until', duntil, duser)
        else redis.call('ZREM', P .. ':bans:until', duser) end
      elseif dkind == 'lift' then
        redis.call('HDEL', P .. ':bans', duser)
        redis.call('ZREM', P .. ':bans:until', duser)
      end
      return {epoch, off, key, gap}
    end
    local out = {mode, {}}
    local requests = {}
    if mode == 'p' then
      local count = tonumber(ARGV[9])
      for i = 0, count - 1 do
        local a = {}
        for j = 1, 13 do a[j] = ARGV[9 + i * 13 + j] end
        requests[#requests + 1] = a
      end
    else
      local users = redis.call('ZRANGEBYSCORE', P .. ':bans:until', '-inf', now)
      for _, user in ipairs(users) do
        local a = {}
        for j = 1, 13 do a[j] = ARGV[8 + j] end
        a[7] = user
        a[9] = user
        if redis.call('HEXISTS', P .. ':bans', user) == 1 then
          out[2][#out[2] + 1] = user
          requests[#requests + 1] = a
        else
          redis.call('ZREM', P .. ':bans:until', user)
        end
      end
    end
    local receipts = {}
    for i, a in ipairs(requests) do
      local r = one(a)
      out[#out + 1] = r
      -- The next request on the same channel follows this one: no gap to report for it.
      for j = i + 1, #requests do
        if requests[j][1] == a[1] and tonumber(requests[j][12]) >= 0 then requests[j][12] = tostring(r[2]) end
      end
      receipts[i] = {a[1], r[2], r[3] or cjson.null}
    end
    if ikey ~= '' then
      local expires = tonumber(ARGV[7])
      local ttl = math.max(1, math.ceil((expires - now) * 1000))
      redis.call('SET', P .. ':i:' .. ikey, cjson.encode({b = ARGV[6], r = receipts, x = expires}), 'PX', ttl)
      local z = P .. ':i'
      redis.call('ZADD', z, expires, ikey)
      redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
      local n = redis.call('ZCARD', z)
      local max = tonumber(ARGV[8])
      if n > max then
        local old = redis.call('ZPOPMIN', z, n - max)
        for i = 1, #old, 2 do redis.call('DEL', P .. ':i:' .. old[i]) end
      end
    end
    return out
    """

    /// Reads a channel: position, the entries from an offset on, the retained state.
    ///
    /// ARGV: prefix, channel, create (`1`/`0`), a new epoch, history size, history TTL, the first
    /// offset wanted (0: no entries), include state (`1`/`0`), now, this node (a read that creates
    /// takes a lease for it). Returns false when there is no
    /// stream (and none was created), else `{epoch, offset, entries, state pairs}`; entries are
    /// limited to the last `history size` offsets.
    static let read = helpers + "\n" + """
    local ch = ARGV[2]
    local now = tonumber(ARGV[9])
    local hsize = tonumber(ARGV[5])
    local m, s, k = keys_of(ch)
    local epoch = current_epoch(ch, m, k, now, hsize, tonumber(ARGV[6]))
    if not epoch then
      if ARGV[3] ~= '1' then return false end
      epoch = ARGV[4]
      new_epoch(m, s, k, epoch, now)
      redis.call('PEXPIRE', m, idle_ms(tonumber(ARGV[6])))
    end
    -- A read that creates is a subscriber arriving: the stream is in use from now on (its node's
    -- checks renew the lease), even before anything is published on it.
    if ARGV[3] == '1' then lease(ch, ARGV[10], now) end
    local off = tonumber(redis.call('HGET', m, 'o') or '0')
    local wanted = tonumber(ARGV[7])
    local entries = {}
    local from = math.max(wanted, off - hsize + 1, 1)
    if hsize > 0 and wanted > 0 and from <= off then
      entries = redis.call('XRANGE', s, from .. '-0', '+')
    end
    local state = {}
    if ARGV[8] == '1' then state = redis.call('HGETALL', k) end
    return {epoch, off, entries, state}
    """

    /// For the channels a node follows: which lost their stream (another epoch, or none); renews the
    /// node's lease on the others (so they are not forgotten) and keeps them from expiring. ARGV:
    /// prefix, now, node, then channel and epoch pairs. Returns the lost channels.
    static let verify = helpers + "\n" + """
    local lost = {}
    for i = 4, #ARGV, 2 do
      local m, s, k = keys_of(ARGV[i])
      if redis.call('HGET', m, 'e') ~= ARGV[i + 1] then
        lost[#lost + 1] = ARGV[i]
      else
        lease(ARGV[i], ARGV[3], tonumber(ARGV[2]))
        redis.call('PEXPIRE', m, 3600000, 'GT')
        redis.call('PEXPIRE', s, 3600000, 'GT')
      end
    end
    return lost
    """

    static let all: [(name: String, source: String)] = [
        ("write", write), ("read", read), ("verify", verify),
        ("presence_join", presenceJoin), ("presence_leave", presenceLeave), ("presence_tick", presenceTick), ("presence_read", presenceRead),
        ("session_counts", sessionCounts), ("sessions_elsewhere", sessionsElsewhere), ("occupancy", occupancy),
    ]
}
