-- wrk script for memory.t: a rotating mix of valid, repeated, changed and
-- rejected requests.  Environment: MIX_TOKEN (the responder's token),
-- MIX_LIMIT (responses per thread, then the thread stops sending; wrk itself
-- runs on until -d or SIGINT).  done() prints
-- "status NNN COUNT" lines summed over all threads.

local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("id", #threads)
end

local function cb(tid, variant, pad)
	return string.format('{"code":200,"msg":"Veo3.1 video generated successfully.",' ..
		'"data":{"taskId":"%s","info":{"resultUrls":["https://cdn.example.com/%s.mp4"],' ..
		'"originUrls":null,"resolution":"%s"},"fallbackFlag":false,"promptJson":"%s"}}',
		tid, tid, variant == 0 and "1080p" or "720p", string.rep("p", pad))
end

function init(args)
	local token = os.getenv("MIX_TOKEN") or ""
	local q = "/callback?token=" .. token
	local json = { ["Content-Type"] = "application/json" }
	local id = wrk.thread:get("id") or 0
	limit = tonumber(os.getenv("MIX_LIMIT") or "0")
	count = 0
	statuses = {}
	reqs = {}
	local function add(method, path, headers, body)
		table.insert(reqs, wrk.format(method, path, headers, body))
	end
	for i = 0, 255 do
		local tid = string.format("mem_%d_%02d", id, i % 64)
		local k = i % 16
		if k < 6 then add("POST", q, json, cb(tid, 0, (i % 64) * 31))
		elseif k == 6 and i < 64 then add("POST", q, json, cb(tid, 1, 10))	-- changed: replaces
		elseif k == 6 then add("POST", q, json, cb(tid, 0, (i % 64) * 31))
		elseif k == 7 then add("POST", q, json, '{"code":200,"msg":"x","data":{"taskId":"a"')
		elseif k == 8 then add("POST", q, json, '{"msg":"no code","data":{"taskId":"s"}}')
		elseif k == 9 then add("POST", q, { ["Content-Type"] = "text/plain" }, cb(tid, 0, 0))
		elseif k == 10 then add("POST", q, json, cb(tid, 0, 70000))	-- 413
		elseif k == 11 then add("POST", "/callback", json, cb(tid, 0, 0))	-- 401
		elseif k == 12 then add("GET", q, {}, nil)	-- 405
		elseif k == 13 then add("GET", "/callback?health", {}, nil)
		elseif k == 14 then add("POST", q, json, '{"code":501,"msg":"\255","data":{"taskId":"u","info":null}}')
		else add("POST", q, json, '{"code":501,"msg":"d","data":{"taskId":"d","x":' ..
			string.rep("[", 40) .. string.rep("]", 40) .. '}}')
		end
	end
	n = 0
end

function request()
	n = n + 1
	return reqs[(n - 1) % #reqs + 1]
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
	count = count + 1
	if limit > 0 and count >= limit then
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		local s = t:get("statuses")
		for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
	end
	local keys = {}
	for k in pairs(total) do table.insert(keys, k) end
	table.sort(keys)
	for _, k in ipairs(keys) do io.write(string.format("status %d %d\n", k, total[k])) end
end
