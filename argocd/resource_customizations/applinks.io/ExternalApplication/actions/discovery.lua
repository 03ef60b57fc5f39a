local actions = {}
-- A paused object makes no call to the applications: a resync or rotation waits for the pause
-- to end.
local paused = obj.metadata.annotations ~= nil and obj.metadata.annotations["applinks.io/paused"] == "true"
actions["resync"] = {["disabled"] = paused}
actions["rotate"] = {["disabled"] = paused}
return actions
