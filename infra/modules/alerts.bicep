// Log alert rules on the handler's own log lines in Application Insights (traces): the
// custom handler writes one JSON object per line to stdout (log/slog), and the Functions host
// logs each stdout line, as it is, as the message of a trace (category Host.Function.Console;
// azure-functions-host WorkerProcess.OnOutputDataReceived -> WorkerConsoleLogService, which
// logs the line with no prefix). Caller-supplied text (a run's reason, who asked, an inbox
// rule's name) reaches those lines as escaped attribute values, so a rule does not look for
// words in the line: it parses the line and matches its top-level "event" attribute exactly,
// which only the code writes, with a constant of internal/logevent (infra's test holds the
// events here, those constants and the code that logs them together). A line that is not
// JSON has no "event" and matches no rule; so that no attacker text can make a line too long
// to be kept whole (Application Insights is reported to cut a trace's message at 32,768
// characters), logevent.NewJSONHandler bounds every value of a line; and host.json keeps traces
// out of adaptive sampling (samplingSettings.excludedTypes), so none is sampled out. Each rule looks at the
// last 5 minutes every 5 minutes and fires on one matching line. Checked against the
// Microsoft.Insights/scheduledQueryRules 2021-08-01 reference and the KQL parse_json() and
// tostring() references (no Bicep compiler or Azure is reachable where this was written: run
// `az bicep build` before use).
param location string
param tags object
param appInsightsName string
@description('Resource id of an action group to notify (e-mail, SMS, a Logic App); empty: the alerts fire in the portal only.')
param actionGroupId string = ''

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var rules = [
  {
    name: 'attacker-returned'
    displayName: 'Tourniquet: the attacker returned during an eviction watch'
    description: 'An eviction watch saw a sign-in from an attacker address, forwarding set again or a new suspicious inbox rule, and started a re-containing run. Look at the run and its re-containing runs.'
    severity: 1
    event: 'attacker_returned'
  }
  {
    name: 'run-failed'
    displayName: 'Tourniquet: a remediation run failed'
    description: 'A run ended failed: some step could not be carried out. The run document says which and why.'
    severity: 2
    event: 'run_failed'
  }
  {
    name: 'record-tampered'
    displayName: 'Tourniquet: a run record was changed outside the handler'
    description: 'Someone with write access to the storage account changed a run record or the evidence of a step (record_tampered); nothing of it is acted on. Investigate who holds storage write.'
    severity: 1
    event: 'record_tampered'
  }
  {
    name: 'lockout-guard'
    displayName: 'Tourniquet: a run would have taken the last usable Global Administrator'
    description: 'The lockout guard held a run for approval: it would reset, block or strip the tenant\'s last usable Global Administrator.'
    severity: 1
    event: 'lockout_guard_held'
  }
]

resource alert 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = [for r in rules: {
  name: 'tourniquet-${r.name}-${appInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: r.displayName
    description: r.description
    severity: r.severity
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(parse_json(message)["event"]) == "${r.event}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: empty(actionGroupId) ? [] : [
        actionGroupId
      ]
    }
  }
}]
