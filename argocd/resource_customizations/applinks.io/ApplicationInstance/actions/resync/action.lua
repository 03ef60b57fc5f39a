-- Asks the operator to verify the object against the applications now; it echoes the value in
-- status.lastHandledReconcileAt once done.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["applinks.io/reconcile-requested-at"] = os.date("!%Y-%m-%dT%XZ")
return obj
