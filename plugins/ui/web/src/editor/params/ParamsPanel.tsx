// The selected node's parameters: every declared param whose visible_when holds, with its widget.
import type { NodeDefinition, ParamDefinition, PresetDefinition } from '../../api/types';
import { presetParamFields, type PresetParamField } from '../../defs/definitions';
import type { FlowNode } from '../../graph/flow';
import { effectiveValue, isParamVisible } from '../../graph/visibility';
import { ParamField } from './ParamField';

interface Props {
  node: FlowNode;
  definition: NodeDefinition | undefined;
  preset: PresetDefinition | undefined;
  onSetParam(name: string, value: unknown): void;
  onSetInternalParam(internalNode: string, name: string, value: unknown): void;
}

function Row({ label, def, children }: { label: string; def: ParamDefinition; children: React.ReactNode }) {
  const bounds =
    def.min_value !== null || def.max_value !== null ? ` [${def.min_value ?? '−∞'} … ${def.max_value ?? '∞'}]` : '';
  return (
    <div className="nl-param-row" data-param={def.name}>
      <label className="nl-param-label" title={`${def.description}${bounds ? `\nRange${bounds}` : ''}`}>
        {label}
        <span className="nl-param-type">{def.param_type}{bounds}</span>
      </label>
      <div className="nl-param-input">{children}</div>
      {def.description && <div className="nl-param-help">{def.description}</div>}
    </div>
  );
}

function internalValues(node: FlowNode, preset: PresetDefinition, internalNode: string): Record<string, unknown> {
  const base = preset.nodes.find((n) => n.id === internalNode)?.params ?? {};
  const all = node.data.extraData.internalParams as Record<string, Record<string, unknown>> | undefined;
  return { ...base, ...(all?.[internalNode] ?? {}) };
}

function PresetFields({ node, preset, onSetInternalParam }: Pick<Props, 'node' | 'onSetInternalParam'> & { preset: PresetDefinition }) {
  const fields = presetParamFields(preset);
  if (fields.length === 0) return <div className="nl-muted">This preset exposes no parameters.</div>;
  const groups = new Map<string, PresetParamField[]>();
  for (const field of fields) groups.set(field.group, [...(groups.get(field.group) ?? []), field]);
  return (
    <>
      {[...groups.entries()].map(([group, items]) => (
        <fieldset key={group || '-'} className="nl-param-group">
          {group && <legend>{group}</legend>}
          {items.map((field) => {
            const values = internalValues(node, preset, field.internalNode);
            const siblings = fields.filter((f) => f.internalNode === field.internalNode).map((f) => f.def);
            if (!isParamVisible(field.def, values, siblings)) return null;
            return (
              <Row key={`${field.internalNode}.${field.paramName}`} label={field.label} def={field.def}>
                <ParamField
                  def={field.def}
                  value={effectiveValue(field.def, values, field.paramName)}
                  onChange={(v) => onSetInternalParam(field.internalNode, field.paramName, v)}
                  nodeId={node.id}
                  nodeType={node.data.nodeType}
                />
              </Row>
            );
          })}
        </fieldset>
      ))}
    </>
  );
}

export function ParamsPanel({ node, definition, preset, onSetParam, onSetInternalParam }: Props) {
  const params = node.data.params;
  const declared = definition?.params ?? [];
  const undeclared = Object.keys(params).filter((k) => !declared.some((p) => p.name === k));
  return (
    <div className="nl-params" data-testid="params-panel">
      <header className="nl-params-header">
        <div className="nl-params-title">{preset ? preset.preset_name : (definition?.node_name ?? node.data.nodeType)}</div>
        <div className="nl-muted">
          {node.id}
          {definition?.category ? ` · ${definition.category}` : ''}
        </div>
        {definition?.description && <p className="nl-params-description">{definition.description}</p>}
        {!definition && <p className="nl-error-text">Unknown node type “{node.data.nodeType}”. Its parameters are kept as they are.</p>}
      </header>
      {preset ? (
        <PresetFields node={node} preset={preset} onSetInternalParam={onSetInternalParam} />
      ) : (
        declared
          .filter((def) => isParamVisible(def, params, declared))
          .map((def) => (
            <Row key={def.name} label={def.name} def={def}>
              <ParamField
                def={def}
                value={effectiveValue(def, params, def.name)}
                onChange={(v) => onSetParam(def.name, v)}
                nodeId={node.id}
                nodeType={node.data.nodeType}
              />
            </Row>
          ))
      )}
      {!preset && declared.length === 0 && definition && <div className="nl-muted">No parameters.</div>}
      {undeclared.length > 0 && (
        <div className="nl-undeclared">
          <div className="nl-muted">Not declared by the node (kept, ignored by runs):</div>
          {undeclared.map((k) => (
            <div key={k} className="nl-mono">
              {k} = {JSON.stringify(params[k])}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
