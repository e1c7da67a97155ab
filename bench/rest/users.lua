-- wrk script: GET /v1/challenges as one of 1,000 players (x-mock-user-id), round robin.
local counter = 0
request = function()
  counter = counter + 1
  local user = "bench-user-" .. (counter % 1000)
  return wrk.format("GET", "/challenge/v1/challenges", { ["x-mock-user-id"] = user })
end
