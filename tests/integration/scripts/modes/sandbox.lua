-- sandbox (test mode): tries to escape the sandbox from inside a match script. init runs
-- every attempt under pcall and get_state reports what each returned, so a test can check
-- that every escape failed (ok = false) while the allowed calls (controls) work.
local M = { tick_rate = 5, players = { min = 1, max = 1 } }

local attempts = {
  io_open = function() return io.open("/etc/passwd") end,
  io_via_G = function() return _G.io.write("x") end,
  io_rawget = function() return assert(rawget(_G, "io"), "no io") end,
  os_execute = function() return os.execute("touch /tmp/moonbase-sandbox-escaped") end,
  os_exit = function() return os.exit(3) end,
  os_getenv = function() return assert(os.getenv("HOME"), "no getenv result") end,
  os_remove = function() return os.remove("/tmp/moonbase-sandbox-x") end,
  os_tmpname = function() return os.tmpname() end,
  require_ffi = function() return require("ffi") end,
  ffi_global = function() return ffi.C end,
  require_native = function() return require("socket.core") end,
  require_io = function() return require("io") end,
  require_path_escape = function() return require("../../../etc/passwd") end,
  require_absolute = function() return require("/etc/passwd") end,
  package_loadlib = function() return package.loadlib("libc.so.6", "system") end,
  package_cpath = function() return package.cpath end,
  load_bytecode = function()
    local f, err = load("\27LJ\2\0\9@test\0\0")
    if not f then error(err) end
    return f
  end,
  loadstring_bytecode = function()
    local f, err = loadstring("\27Lua\81\0")
    if not f then error(err) end
    return f
  end,
  load_reader_bytecode = function()
    local parts = { "\27LJ", "\2\0" }
    local i = 0
    local f, err = load(function() i = i + 1; return parts[i] end)
    if not f then error(err) end
    return f
  end,
  string_dump = function() return string.dump(function() end) end,
  string_dump_method = function() return ("x").dump(print) end,
  debug_lib = function() return debug.getinfo(1) end,
  debug_registry = function() return debug.getregistry() end,
  jit_on = function() return jit.on() end,
  dofile = function() return dofile("/etc/passwd") end,
  loadfile = function() return loadfile("/etc/passwd") end,
  getfenv = function() return getfenv(0) end,
  setfenv = function() return setfenv(1, {}) end,
  newproxy = function() return newproxy(true) end,
  module_fn = function() return module("x") end,
  string_metatable = function()
    local mt = getmetatable("")
    return assert(type(mt) == "table" and mt.__index, "the string metatable is hidden")
  end,
  string_metatable_replace = function() return setmetatable("", {}) end,
  collectgarbage_stop = function() return collectgarbage("stop") end,
  moonbase_tamper = function() require("moonbase").now = function() return 0 end end,
  moonbase_rpc = function() return require("moonbase").rpc("x", function() end) end,
}

-- allowed: must work
local controls = {
  os_time = function() return os.time() end,
  os_clock = function() return os.clock() end,
  os_date = function() return os.date("!%Y") end,
  require_lib = function() return require("vec").clamp(5, 0, 3) end,
  load_text = function() return load("return 1 + 1")() end,
  moonbase_now = function() return require("moonbase").now() end,
  json_roundtrip = function() local j = require("moonbase").json; return j.decode(j.encode({ a = 1 })).a end,
  string_methods = function() return ("abc"):upper() end,
}

local function run(list)
  local out = {}
  for name, fn in pairs(list) do
    local ok, res = pcall(fn)
    out[name] = { ok = ok, value = ok and type(res) or tostring(res) }
  end
  return out
end

function M.init(match, params)
  return { escapes = run(attempts), controls = run(controls) }
end

function M.get_state(match, state, viewer)
  return { escapes = state.escapes, controls = state.controls }
end

return M
