"""The Lua scripts of the status cache (`shared/redis/status_cache.py`): each runs as one Redis
command, atomically, for one reservation or many."""

# Reserve reference IDs and record their Pending states, in one command for many claims: KEYS
# holds (reference key, status key) pairs, ARGV the two TTLs then a (value, pending state) pair
# per claim. Answers, per claim, false when reserved now, or the value of the holder.
RESERVE_MANY = """
local holders = {}
for index = 1, #KEYS / 2 do
  local reference, status = KEYS[2 * index - 1], KEYS[2 * index]
  if redis.call('SET', reference, ARGV[2 * index + 1], 'NX', 'EX', ARGV[1]) then
    redis.call('SET', status, ARGV[2 * index + 2], 'EX', ARGV[2])
    holders[index] = false
  else
    holders[index] = redis.call('GET', reference)
  end
end
return holders
"""

# Confirm reservations that are still ours: KEYS the reference keys, ARGV the confirmed TTL
# then an (unconfirmed value, confirmed value) pair per reservation.
CONFIRM_MANY = """
for index, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[2 * index] then
    redis.call('SET', key, ARGV[2 * index + 1], 'EX', ARGV[1])
  end
end
return 0
"""

# Release reservations that are still ours: KEYS as above, ARGV the value of each claim.
RELEASE_MANY = """
for index = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * index - 1]) == ARGV[index] then
    redis.call('DEL', KEYS[2 * index - 1], KEYS[2 * index])
  end
end
return 0
"""

# Hand a reservation of ours over to the transaction PostgreSQL says holds the reference ID (Redis
# had lost it): KEYS the reference key, our status key and the holder's status key; ARGV our
# value, the holder's confirmed value, its state, the reference TTL and the status TTL.
HAND_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[5])
return 0
"""

# Set many status keys with one TTL in one command: one round trip and one reply to parse,
# where a pipeline of SETs costs the client a command and a reply per key.
PUT_MANY = """
for index, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[index + 1], 'EX', ARGV[1])
end
return #KEYS
"""
