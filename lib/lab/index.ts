export { Lab, LabNode, LabOptions, LabPod, LabStream, ECHO_PORT } from './lab';
export { ConnectivityReport, PairResult, formatReport } from './report';
export { LabPlan, LabNodePlan, LabTopologyKind, planLab, wiringSteps } from './topology';
export { sweepStaleLabs, LAB_PREFIX } from './resources';
export { CalicoLab, CalicoLabOptions } from './calico';
