-- wrk script for the edge's cost (docs/performance.md, "The edge's cost"):
-- PutItem of a new key each request into table `edge-bench` (string
-- partition key `id`), signed for us-east-1 with a fixed Authorization
-- header, which the default cluster (no dynamodb_keys) takes. Sent to the
-- edge it goes to us-east-1; sent to us-east-1's own URL it is the baseline.
-- wrk prints a "Non-2xx or 3xx responses" line when any answer was not 200.
--   wrk -t1 -c8 -d15s --latency -s .ci/edge_put.lua http://127.0.0.1:4566/
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.PutItem"
wrk.headers["Authorization"] =
  "AWS4-HMAC-SHA256 Credential=k/20261129/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"

local n = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000))

request = function()
  n = n + 1
  local body = '{"TableName": "edge-bench", "Item": {"id": {"S": "' .. prefix .. "-" .. n .. '"}, "v": {"N": "1"}}}'
  return wrk.format(nil, "/", nil, body)
end
