-- Health of an applinks.io object (applink-operator), from the conditions the operator writes:
-- Ready, Reconciling, Stalled, Paused, Terminating (kstatus conventions).
local hs = {}

local function condition(type)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == type then
        return c
      end
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

-- Paused by the annotation applinks.io/paused (the operator confirmed it in a condition).
local paused = condition("Paused")
if isTrue(paused) then
  hs.status = "Suspended"
  hs.message = describe(paused)
  return hs
end

local ready = condition("Ready")

-- A deletion that waits for something a person must do: an instance still in use
-- (condition Terminating), a link or client whose end cannot be deleted (Ready reason
-- DeletionBlocked).
local blocked = condition("Terminating")
if isTrue(blocked) then
  hs.status = "Degraded"
  hs.message = describe(blocked)
  return hs
end
if obj.metadata.deletionTimestamp ~= nil and ready ~= nil and ready.reason == "DeletionBlocked" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end

-- A spec change the operator has not observed yet. (Checked after deletion: setting
-- deletionTimestamp bumps metadata.generation too.)
if obj.status == nil or obj.status.observedGeneration == nil or
    (obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end

-- Failed: only a person (or the applications' administrators) can fix it; the operator keeps
-- checking with backoff.
local stalled = condition("Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the operator to report Ready"
end
return hs
