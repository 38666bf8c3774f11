-- Orthanc routing rule: every instance the PACS stores is forwarded to the NeuroTriage
-- receiver as an asynchronous store job. A job that fails (receiver down) stays in Orthanc's
-- job list with state "Failure"; resubmitting it (POST /jobs/<id>/resubmit) sends it again,
-- and the receiver acknowledges an instance it already has without storing it twice.
-- The receiver decides what it accepts (MR only, allowed callers): refusals are recorded
-- there, with their reason. Only the platform's own results are not sent back to it.

local config = GetOrthancConfiguration()['NeuroTriage']

function OnStoredInstance(instanceId, tags, metadata, origin)
  if origin['RequestOrigin'] == 'DicomProtocol'
     and origin['RemoteAet'] == config['ResultsCallingAet'] then
    return
  end
  local job = {}
  job['Resources'] = { instanceId }
  job['Asynchronous'] = true
  RestApiPost('/modalities/' .. config['Modality'] .. '/store', DumpJson(job, true))
end
