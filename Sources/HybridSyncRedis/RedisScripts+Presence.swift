/// Presence in Redis (``PresenceTable``'s rules, kept by scripts so every node sees one table).
///
/// Layout under the prefix `P`, for channel `C`, user `U`, node incarnation `N` (a process: its
/// ``RedisBroker/nodeID``) and context `X` = `N|<connection>`:
/// - `P:pc:C` hash: context → user.
/// - `P:pu:C` hash: user → their number of contexts on C.
/// - `P:pi:C:U` hash: context → `<stamp>|<info JSON>`; the user's info is that of the highest
///   stamp (`P:pstamp`, a counter), so the newest context's info wins and a context that leaves
///   gives the user the next newest's back.
/// - `P:pn:N` set: `<connection>\n<channel>` for each context of N (what N's death removes).
/// - `P:nodes` sorted set: N → when its lease ends (Redis's clock, `TIME`). A node renews it
///   about once a second; any node's tick removes the contexts of a node whose lease ended.
/// - `P:sc:U` hash: node → the user's live sessions there; `P:sn:N` set: the users with sessions
///   on N (what N's death removes). Read by a ban to report every node's closed sessions.
/// - `P:oc:C` set: the nodes with subscribers of C; `P:on:N` set: the channels N has subscribers
///   of. The first node in (the last out) reports `channel_occupied` (`channel_vacated`).
/// - Every change is appended to `P:control` with an empty node field (every node, the one that
///   made it included, reads it from there, so all nodes push changes in the one order they were
///   made): `{"type":"presence","origin":N,"changes":[<push>, …]}`, each change as its push
///   (PROTOCOL.md); `origin`, the node that made them, reports them in its webhooks.
extension RedisScripts {
    private static let presenceHelpers = """
    local P = ARGV[1]
    local function clock()
      local t = redis.call('TIME')
      return tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    -- The info of the user's newest context ('null' when it has none).
    local function latest(pi)
      local best, stamp = 'null', -1
      local all = redis.call('HGETALL', pi)
      for i = 1, #all, 2 do
        local v = all[i + 1]
        local bar = string.find(v, '|', 1, true)
        local s = tonumber(string.sub(v, 1, bar - 1))
        if s > stamp then stamp = s; best = string.sub(v, bar + 1) end
      end
      return best
    end
    local function change(t, ch, user, info)
      local j = '{"push":"' .. t .. '","channel":' .. cjson.encode(ch) .. ',"user":' .. cjson.encode(user)
      if info then j = j .. ',"info":' .. info end
      return j .. '}'
    end
    -- Context `node|conn` leaves `ch`; appends the change, if any, to `out`.
    local function leave(ch, node, conn, out)
      local pc, pu = P .. ':pc:' .. ch, P .. ':pu:' .. ch
      local ctx = node .. '|' .. conn
      local user = redis.call('HGET', pc, ctx)
      redis.call('SREM', P .. ':pn:' .. node, conn .. '\\n' .. ch)
      if not user then return end
      redis.call('HDEL', pc, ctx)
      local pi = P .. ':pi:' .. ch .. ':' .. user
      local before = latest(pi)
      redis.call('HDEL', pi, ctx)
      if redis.call('HINCRBY', pu, user, -1) <= 0 then
        redis.call('HDEL', pu, user)
        out[#out + 1] = change('leave', ch, user)
      else
        local after = latest(pi)
        if after ~= before then out[#out + 1] = change('presence_update', ch, user, after) end
      end
    end
    -- Appends the changes `origin` made (it reports them in its webhooks) to the control stream.
    local function publish(out, origin)
      if #out == 0 then return end
      redis.call('XADD', P .. ':control', 'MAXLEN', '~', '10000', '*', 'n', '', 'c',
        '{"type":"presence","origin":' .. cjson.encode(origin) .. ',"changes":[' .. table.concat(out, ',') .. ']}')
    end
    """

    /// A context joins a channel (or updates its info there). ARGV: prefix, node, connection,
    /// channel, user, info JSON (`null`: none), the channel's user limit, the lease in seconds.
    /// Returns `full`, or `joined` (`joined new` when the node had no lease: see ``presenceTick``).
    static let presenceJoin = presenceHelpers + "\n" + """
    local node, conn, ch, user, info = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
    local pc, pu = P .. ':pc:' .. ch, P .. ':pu:' .. ch
    local ctx = node .. '|' .. conn
    local out = {}
    local prev = redis.call('HGET', pc, ctx)
    if prev ~= user then
      if redis.call('HEXISTS', pu, user) == 0 and redis.call('HLEN', pu) >= tonumber(ARGV[7]) then return 'full' end
      if prev then leave(ch, node, conn, out) end
    end
    local pi = P .. ':pi:' .. ch .. ':' .. user
    local present = redis.call('HEXISTS', pu, user) == 1
    local before = present and latest(pi)
    if prev ~= user then redis.call('HINCRBY', pu, user, 1) end
    redis.call('HSET', pi, ctx, redis.call('INCR', P .. ':pstamp') .. '|' .. info)
    redis.call('HSET', pc, ctx, user)
    redis.call('SADD', P .. ':pn:' .. node, conn .. '\\n' .. ch)
    local added = redis.call('ZADD', P .. ':nodes', 'GT', clock() + tonumber(ARGV[8]), node)
    if not present then
      out[#out + 1] = change('join', ch, user, info)
    else
      local after = latest(pi)
      if after ~= before then out[#out + 1] = change('presence_update', ch, user, after) end
    end
    publish(out, node)
    if added == 1 then return 'joined new' end
    return 'joined'
    """

    /// A context leaves channels. ARGV: prefix, node, connection, then the channels.
    static let presenceLeave = presenceHelpers + "\n" + """
    local out = {}
    for i = 4, #ARGV do leave(ARGV[i], ARGV[2], ARGV[3], out) end
    publish(out, ARGV[2])
    return #out
    """

    /// A node's tick: renews its lease and removes the contexts, session counts and occupancy of
    /// every node whose lease ended (their presence changes go to the control stream). ARGV:
    /// prefix, node, lease in seconds. Returns `{added, vacated channels…}`: `added` 1 when this
    /// node had no lease (new, or lost while it could not reach Redis: it must join its contexts
    /// again), then the channels the dead nodes' end left without subscribers anywhere.
    static let presenceTick = presenceHelpers + "\n" + """
    local now = clock()
    local nodes = P .. ':nodes'
    local added = redis.call('ZADD', nodes, now + tonumber(ARGV[3]), ARGV[2])
    local out, vacated = {}, {}
    for _, dead in ipairs(redis.call('ZRANGEBYSCORE', nodes, '-inf', now)) do
      for _, entry in ipairs(redis.call('SMEMBERS', P .. ':pn:' .. dead)) do
        local nl = string.find(entry, '\\n', 1, true)
        leave(string.sub(entry, nl + 1), dead, string.sub(entry, 1, nl - 1), out)
      end
      redis.call('DEL', P .. ':pn:' .. dead)
      for _, user in ipairs(redis.call('SMEMBERS', P .. ':sn:' .. dead)) do redis.call('HDEL', P .. ':sc:' .. user, dead) end
      redis.call('DEL', P .. ':sn:' .. dead)
      for _, ch in ipairs(redis.call('SMEMBERS', P .. ':on:' .. dead)) do
        if redis.call('SREM', P .. ':oc:' .. ch, dead) == 1 and redis.call('SCARD', P .. ':oc:' .. ch) == 0 then vacated[#vacated + 1] = ch end
      end
      redis.call('DEL', P .. ':on:' .. dead)
      redis.call('ZREM', nodes, dead)
    end
    publish(out, ARGV[2])
    return {added, unpack(vacated)}
    """

    /// Sessions of users opened (a positive delta) or closed (negative) on a node, one service
    /// turn's worth. ARGV: prefix, node, then user and delta pairs.
    static let sessionCounts = presenceHelpers + "\n" + """
    local sn = P .. ':sn:' .. ARGV[2]
    for i = 3, #ARGV, 2 do
      local sc = P .. ':sc:' .. ARGV[i]
      if redis.call('HINCRBY', sc, ARGV[2], tonumber(ARGV[i + 1])) <= 0 then
        redis.call('HDEL', sc, ARGV[2])
        redis.call('SREM', sn, ARGV[i])
      else
        redis.call('SADD', sn, ARGV[i])
      end
    end
    return 1
    """

    /// A user's live sessions on the nodes other than one, counting only nodes whose lease holds.
    /// ARGV: prefix, the node not to count, user.
    static let sessionsElsewhere = presenceHelpers + "\n" + """
    local now, total = clock(), 0
    local all = redis.call('HGETALL', P .. ':sc:' .. ARGV[3])
    for i = 1, #all, 2 do
      local lease = redis.call('ZSCORE', P .. ':nodes', all[i])
      if all[i] ~= ARGV[2] and lease and tonumber(lease) > now then total = total + tonumber(all[i + 1]) end
    end
    return total
    """

    /// This node's first subscriber of a channel arrived (`1`) or its last left (`0`). ARGV:
    /// prefix, node, channel, 1|0. Returns 1 when that made the channel occupied (the first node)
    /// or vacated (the last), else 0.
    static let occupancy = presenceHelpers + "\n" + """
    local oc, on = P .. ':oc:' .. ARGV[3], P .. ':on:' .. ARGV[2]
    if ARGV[4] == '1' then
      redis.call('SADD', on, ARGV[3])
      if redis.call('SADD', oc, ARGV[2]) == 1 and redis.call('SCARD', oc) == 1 then return 1 end
    else
      redis.call('SREM', on, ARGV[3])
      if redis.call('SREM', oc, ARGV[2]) == 1 and redis.call('SCARD', oc) == 0 then return 1 end
    end
    return 0
    """

    /// Reads a channel's presence. ARGV: prefix, channel, `m` (members) or `s` (stats). Members:
    /// a flat array of user, contexts, info JSON; stats: users, contexts.
    static let presenceRead = presenceHelpers + "\n" + """
    local ch = ARGV[2]
    local pu = P .. ':pu:' .. ch
    if ARGV[3] == 's' then return {redis.call('HLEN', pu), redis.call('HLEN', P .. ':pc:' .. ch)} end
    local out = {}
    local all = redis.call('HGETALL', pu)
    for i = 1, #all, 2 do
      out[#out + 1] = all[i]
      out[#out + 1] = tonumber(all[i + 1])
      out[#out + 1] = latest(P .. ':pi:' .. ch .. ':' .. all[i])
    end
    return out
    """
}
