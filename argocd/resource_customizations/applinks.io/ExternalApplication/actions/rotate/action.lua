-- Asks the operator for a new client secret: a new value of applinks.io/rotate issues one and
-- writes it to the Secret (status.rotationRequest records the value acted on).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["applinks.io/rotate"] = os.date("!%Y-%m-%dT%XZ")
return obj
