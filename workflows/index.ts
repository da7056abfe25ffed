// The workflow bundle's entry point: every workflow type the worker registers.
export { deploy } from './deploy';
export { down } from './down';
export { update } from './update';
export { rollback, history } from './rollback';
export { projectLock } from './lock';
export { backup, backups } from './backup';
export { restore } from './restore';
export { migrate } from './migrate';
export { notifyOperation } from './notify';
export { hostRegistration, describeHosts } from './host-registry';
export { stackHosts } from './host-status';
